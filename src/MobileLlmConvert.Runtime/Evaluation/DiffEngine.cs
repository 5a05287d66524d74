using System.Diagnostics;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// Teacher-forced accuracy diff: the reference and every candidate run on exactly the same windows
/// of the token stream (consecutive, <see cref="DiffOptions.Context"/> tokens each, every window
/// from an empty KV cache), and every position of every window is scored against the reference's
/// next-token distribution: KL(ref || cand) in double from log-softmax, top-1 agreement; and, where
/// the true next token is known (every position but the stream's last), delta-p and perplexity.
/// Windows are the outer loop and models the inner one, so only one window's logits are held per
/// model at a time (512 × 32000 floats = 65 MB for MobileLLM), never the whole text's.
/// </summary>
public static class DiffEngine
{
    /// <summary>Why <paramref name="candidate"/> cannot be compared with <paramref name="reference"/>, or null.</summary>
    public static string? Incompatibility(ModelIr reference, ModelIr candidate, bool perTensor)
    {
        if (reference.Config.VocabSize != candidate.Config.VocabSize)
            return $"vocabulary of {candidate.Config.VocabSize} does not match the reference's {reference.Config.VocabSize}";
        if (reference.Config.HiddenSize != candidate.Config.HiddenSize || reference.Steps.Count != candidate.Steps.Count)
            return $"not a conversion of the reference (hidden {candidate.Config.HiddenSize} vs {reference.Config.HiddenSize}, {candidate.Steps.Count} vs {reference.Steps.Count} layer steps)";
        return perTensor ? TensorAttribution.Incompatibility(reference, candidate) : null;
    }

    /// <summary>Scores <paramref name="reference"/> and every candidate on the same windows of <see cref="DiffOptions.Tokens"/>, teacher-forced, and returns every figure `mlconvert diff` prints; <paramref name="progress"/> receives stage "diff" per window.</summary>
    public static DiffOutcome Run(string referencePath, ModelIr reference, IReadOnlyList<DiffCandidate> candidates, DiffOptions options,
        IProgress<ConversionProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Context < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Context, "Context must be at least 1");
        if (options.Tokens.Count == 0) throw new ArgumentException("no tokens to score", nameof(options));
        foreach (var c in candidates)
        {
            if (Incompatibility(reference, c.Ir, options.PerTensor) is { } why) throw new ArgumentException($"{c.Path}: {why}", nameof(candidates));
            if (c.Runtime is not null && (options.PerLayer || options.PerTensor))
                throw new ArgumentException($"{c.Path}: per-layer and per-tensor attribution need our executor, not another runtime", nameof(candidates));
        }
        var clock = Stopwatch.StartNew();
        var tokens = options.Tokens.ToArray();
        var windows = Windows(tokens.Length, options.Context);
        int vocab = reference.Config.VocabSize, hidden = reference.Config.HiddenSize, steps = reference.Steps.Count;
        int perTensorWindows = options.PerTensor ? PerTensorWindowCount(windows, options.PerTensorTokens) : 0;
        var swaps = options.PerTensor ? candidates.Select(c => TensorAttribution.Differences(reference, c.Ir)).ToArray() : [];
        var work = new WorkCounter(progress, windows.Count * (1L + candidates.Count) + perTensorWindows * (long)swaps.Sum(s => s.Count));

        var exec = options.Executor with { MaxContext = options.Context };
        var refRows = new RowScores(tokens.Length);
        var scores = candidates.Select(_ => new CandidateScores(tokens.Length)).ToArray();
        var comparisons = new ResidualComparison?[candidates.Count];
        bool capture = options.PerLayer || options.PerTensor;
        var residuals = capture ? new ResidualCapture(steps, options.Context, hidden) : null;
        var kept = new List<KeptWindow>();
        var refLogits = new float[checked(options.Context * vocab)];
        var candLogits = new float[refLogits.Length];
        using (var refModel = new Transformer(reference, exec))
        {
            refModel.Observer = residuals;
            var candModels = candidates.Select(c => c.Open(exec)).ToArray();
            try
            {
                for (int c = 0; c < candidates.Count; c++)
                {
                    if (options.PerLayer) ((Transformer)candModels[c]).Observer = comparisons[c] = new ResidualComparison(residuals!, steps, hidden);
                }
                for (int w = 0; w < windows.Count; w++)
                {
                    var (start, length) = windows[w];
                    var ids = tokens.AsSpan(start, length);
                    var rl = refLogits.AsSpan(0, length * vocab);
                    refModel.Reset();
                    refModel.Forward(ids, rl);
                    ScoreReference(refLogits, tokens, start, length, vocab, refRows, options.Executor.Threads);
                    work.Step($"window {w + 1}/{windows.Count}: reference");
                    if (w < perTensorWindows) kept.Add(new KeptWindow(start, length, rl.ToArray(), residuals!.Snapshot(length)));
                    for (int c = 0; c < candidates.Count; c++)
                    {
                        candModels[c].Reset();
                        candModels[c].Forward(ids, candLogits.AsSpan(0, length * vocab));
                        ScoreCandidate(refLogits, candLogits, tokens, start, length, vocab, refRows, scores[c], options.Executor.Threads);
                        work.Step($"window {w + 1}/{windows.Count}: {candidates[c].Path}");
                    }
                }
            }
            finally
            {
                foreach (var m in candModels) m.Dispose();
            }
        }

        var storedBlocks = TensorAttribution.StoredBlocks(reference);
        var results = new List<CandidateDiff>();
        var errors = new List<LogitErrors>();
        for (int c = 0; c < candidates.Count; c++)
        {
            var s = scores[c];
            IReadOnlyList<TensorDelta>? tensors = options.PerTensor ? PerTensor(reference, swaps[c], kept, refRows, options, work) : null;
            int? divergence = options.Generate > 0 ? FirstGreedyDivergence(reference, candidates[c], tokens, options) : null;
            results.Add(Summarize(candidates[c].Path, s, refRows, tokens, options, options.PerLayer ? comparisons[c]!.Result(storedBlocks) : null, tensors, divergence));
            errors.Add(new LogitErrors(s.MaxAbsLogit, s.MaxAbsProbability));
        }
        var result = new DiffResult(referencePath, options.TextSource, tokens.Length, options.Context, results);
        return new DiffOutcome(result, errors, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Consecutive windows of <paramref name="context"/> tokens covering the stream; the last may be shorter.</summary>
    public static IReadOnlyList<(int Start, int Length)> Windows(int tokens, int context)
    {
        var list = new List<(int, int)>();
        for (int start = 0; start < tokens; start += context) list.Add((start, Math.Min(context, tokens - start)));
        return list;
    }

    private static int PerTensorWindowCount(IReadOnlyList<(int Start, int Length)> windows, int budget)
    {
        int n = 0, covered = 0;
        while (n < windows.Count && covered < budget) covered += windows[n++].Length;
        return n;
    }

    /// <summary>The reference's per-position figures for one window: logsumexp, arg-max, log p(true next).</summary>
    private static void ScoreReference(float[] logits, int[] tokens, int start, int length, int vocab, RowScores rows, int threads)
    {
        Parallel.For(0, length, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            var row = logits.AsSpan(i * vocab, vocab);
            int p = start + i;
            rows.Lse[p] = LogitComparison.LogSumExp(row);
            rows.ArgMax[p] = LogitComparison.ArgMax(row);
            if (p + 1 < tokens.Length) rows.LogPTrue[p] = row[tokens[p + 1]] - rows.Lse[p];
        });
    }

    private static void ScoreCandidate(float[] refLogits, float[] candLogits, int[] tokens, int start, int length, int vocab,
        RowScores refRows, CandidateScores s, int threads)
    {
        var maxLogit = new double[length];
        var maxProb = new double[length];
        Parallel.For(0, length, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            var r = refLogits.AsSpan(i * vocab, vocab);
            var c = candLogits.AsSpan(i * vocab, vocab);
            int p = start + i;
            double lse = LogitComparison.LogSumExp(c);
            var cmp = LogitComparison.CompareRow(r, refRows.Lse[p], c, lse);
            s.Kl[p] = cmp.Kl;
            s.Rows.Lse[p] = lse;
            s.Rows.ArgMax[p] = LogitComparison.ArgMax(c);
            if (p + 1 < tokens.Length) s.Rows.LogPTrue[p] = c[tokens[p + 1]] - lse;
            maxLogit[i] = cmp.MaxAbsLogitError;
            maxProb[i] = cmp.MaxAbsProbabilityError;
        });
        s.MaxAbsLogit = Math.Max(s.MaxAbsLogit, maxLogit.Max());
        s.MaxAbsProbability = Math.Max(s.MaxAbsProbability, maxProb.Max());
    }

    /// <summary>
    /// `--per-tensor`: for each differing candidate tensor, the reference with only that tensor taken
    /// from the candidate, run on the kept windows and scored against the reference's cached logits.
    /// Steps before the first one the tensor serves cannot change, so the run resumes there from the
    /// reference's cached residual stream (the final norm and head alone for those two).
    /// </summary>
    private static IReadOnlyList<TensorDelta> PerTensor(ModelIr reference, IReadOnlyList<TensorAttribution.Swap> swaps,
        IReadOnlyList<KeptWindow> kept, RowScores refRows, DiffOptions options, WorkCounter work)
    {
        int vocab = reference.Config.VocabSize, steps = reference.Steps.Count;
        var logits = new float[checked(options.Context * vocab)];
        var rows = new List<TensorDelta>();
        int positions = kept.Sum(k => k.Length);
        foreach (var swap in swaps)
        {
            if (swap.SameValues)
            {
                // Only the storage type differs (f16 norms kept as f32): the executor computes in f32
                // from either, so the logits are the reference's bit for bit and the KL added is 0.
                rows.Add(new TensorDelta(swap.Candidate.Name, swap.TypeRef, swap.Candidate.Type.Info().Name, swap.Steps, 0));
                foreach (var k in kept) work.Step($"tensor {swap.Candidate.Name}");
                continue;
            }
            var variant = TensorAttribution.Apply(reference, swap);
            int first = swap.FirstStep(steps);
            double klSum = 0;
            using (var model = new Transformer(variant, options.Executor with { MaxContext = options.Context }))
            {
                foreach (var k in kept)
                {
                    model.Reset();
                    var outSpan = logits.AsSpan(0, k.Length * vocab);
                    if (swap.NeedsTokens) model.Forward(options.Tokens.Skip(k.Start).Take(k.Length).ToArray(), outSpan);
                    else model.ForwardFrom(first, k.Residuals[first], outSpan);
                    var kl = new double[k.Length];
                    Parallel.For(0, k.Length, new ParallelOptions { MaxDegreeOfParallelism = options.Executor.Threads }, i =>
                    {
                        var c = logits.AsSpan(i * vocab, vocab);
                        kl[i] = LogitComparison.CompareRow(k.Logits.AsSpan(i * vocab, vocab), refRows.Lse[k.Start + i], c, LogitComparison.LogSumExp(c)).Kl;
                    });
                    foreach (var x in kl) klSum += x;
                    work.Step($"tensor {swap.Candidate.Name}");
                }
            }
            rows.Add(new TensorDelta(swap.Candidate.Name, swap.TypeRef, swap.Candidate.Type.Info().Name, swap.Steps, klSum / positions));
        }
        // Largest first; equal figures keep the candidate's order of first use (a stable sort).
        return rows.OrderByDescending(r => r.DeltaKl).ToArray();
    }

    /// <summary>
    /// Greedy decoding from the first <see cref="DiffOptions.GeneratePromptTokens"/> tokens, reference
    /// and candidate each feeding back its own choice: the 0-based index of the first generated token
    /// that differs, or null when all <see cref="DiffOptions.Generate"/> agree.
    /// </summary>
    private static int? FirstGreedyDivergence(ModelIr reference, DiffCandidate candidate, int[] tokens, DiffOptions options)
    {
        var prompt = tokens.Take(DiffOptions.GeneratePromptTokens).ToArray();
        var exec = options.Executor with { MaxContext = prompt.Length + options.Generate };
        int[] Greedy(ILogitModel model)
        {
            using (model) return new Generator(model, new Sampler(model.VocabSize)).Generate(prompt, options.Generate, stopToken: null).ToArray();
        }
        var r = Greedy(new Transformer(reference, exec));
        var c = Greedy(candidate.Open(exec));
        for (int i = 0; i < Math.Min(r.Length, c.Length); i++)
        {
            if (r[i] != c[i]) return i;
        }
        return r.Length == c.Length ? null : Math.Min(r.Length, c.Length);
    }

    private static CandidateDiff Summarize(string path, CandidateScores s, RowScores refRows, int[] tokens, DiffOptions options,
        IReadOnlyList<LayerError>? layers, IReadOnlyList<TensorDelta>? tensors, int? divergence)
    {
        int n = tokens.Length;
        int agree = 0;
        for (int p = 0; p < n; p++)
        {
            if (s.Rows.ArgMax[p] == refRows.ArgMax[p]) agree++;
        }
        // delta-p and perplexity need the true next token: every position but the stream's last.
        int known = n - 1;
        var deltaP = new double[known];
        double nllRef = 0, nllCand = 0;
        for (int p = 0; p < known; p++)
        {
            deltaP[p] = Math.Exp(s.Rows.LogPTrue[p]) - Math.Exp(refRows.LogPTrue[p]);
            nllRef -= refRows.LogPTrue[p];
            nllCand -= s.Rows.LogPTrue[p];
        }
        var ppl = known > 0 ? new Perplexity(Math.Exp(nllRef / known), Math.Exp(nllCand / known)) : new Perplexity(double.NaN, double.NaN);
        var stats = KlSummary.Stats(s.Kl);
        var (low, high) = KlSummary.MeanCi95(s.Kl);
        double top1 = (double)agree / n;
        bool? passed = options.MaxMeanKl is null && options.MinTop1 is null ? null
            : (options.MaxMeanKl is not { } maxKl || stats.Mean <= maxKl) && (options.MinTop1 is not { } minTop1 || top1 >= minTop1);
        return new CandidateDiff(path, stats, top1, new DeltaP(KlSummary.Mean(deltaP), KlSummary.Rms(deltaP)), ppl, low, high,
            s.Kl, Worst(s, refRows, tokens, options), divergence, layers, tensors, passed);
    }

    private static IReadOnlyList<WorstPosition> Worst(CandidateScores s, RowScores refRows, int[] tokens, DiffOptions options)
    {
        var order = Enumerable.Range(0, tokens.Length).OrderByDescending(p => s.Kl[p]).ThenBy(p => p).Take(options.WorstCount);
        return order.Select(p =>
        {
            int from = Math.Max(0, p - DiffOptions.WorstContextTokens);
            return new WorstPosition(p, s.Kl[p], Text(options.Decoder, tokens[from..(p + 1)]),
                Text(options.Decoder, [refRows.ArgMax[p]]), Text(options.Decoder, [s.Rows.ArgMax[p]]));
        }).ToArray();
    }

    /// <summary>Decoded text of <paramref name="ids"/> as it continues a text (a leading word keeps its space), or the ids when there is no tokenizer.</summary>
    private static string Text(TextTokenizer? decoder, int[] ids)
    {
        if (decoder is null) return "[" + string.Join(',', ids) + "]";
        var d = decoder.CreateStreamingDecoder(startOfText: false);
        var sb = new System.Text.StringBuilder();
        foreach (var id in ids) sb.Append(d.Push(id));
        return sb.Append(d.Flush()).ToString();
    }

    /// <summary>Per-position figures of one model: logsumexp, arg-max, log p(true next token).</summary>
    private sealed class RowScores(int positions)
    {
        public double[] Lse { get; } = new double[positions];
        public int[] ArgMax { get; } = new int[positions];
        public double[] LogPTrue { get; } = new double[positions];
    }

    private sealed class CandidateScores(int positions)
    {
        public RowScores Rows { get; } = new(positions);
        public double[] Kl { get; } = new double[positions];
        public double MaxAbsLogit { get; set; }
        public double MaxAbsProbability { get; set; }
    }

    /// <summary>A window `--per-tensor` re-runs: its reference logits and residual stream at every step.</summary>
    private sealed record KeptWindow(int Start, int Length, float[] Logits, float[][] Residuals);

    /// <summary>Model runs (windows) done against the total, for a progress bar (which derives rate and ETA).</summary>
    private sealed class WorkCounter(IProgress<ConversionProgress>? progress, long total)
    {
        private long _done;

        public void Step(string item)
        {
            _done++;
            progress?.Report(new ConversionProgress("diff", _done, total, item, ProgressUnit.Items));
        }
    }
}
