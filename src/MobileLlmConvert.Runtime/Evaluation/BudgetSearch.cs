using System.Diagnostics;
using System.Globalization;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// The accuracy budget (issue 13 part 4): a type per stored matrix so that the model is the smallest
/// whose measured mean KL(reference ‖ model) on the evaluation text is within `--max-kl`, or has the
/// lowest estimated KL within `--target-size` / `--target-bpw`.
/// <list type="number">
/// <item>Candidates per tensor: f16 and every quantized type whose block divides the input width (so
/// the Quantize pass never falls back) and the output format can store, minus those no smaller and no
/// better in squared weight error than another (<see cref="BudgetCandidates"/>).</item>
/// <item>Probe: every searched tensor at its smallest candidate; `diff --per-tensor`'s machinery
/// (<see cref="DiffEngine"/>) measures the KL each adds alone on a short window.</item>
/// <item>Estimate: a tensor's KL at another type is its probe KL times the ratio of the types' squared
/// weight errors (KL is second order in a small logit change, which is linear in the weight change;
/// the assumption is that the activations weigh every weight alike). The model's KL is the sum over
/// tensors times one correction factor, first the probe's measured KL over the sum of its parts, then
/// each end-to-end check's measured over estimated.</item>
/// <item>Greedy: from the smallest model, upgrade the tensor whose next type buys the most estimated KL
/// per byte, until the corrected estimate is within the budget (or no upgrade fits the size).</item>
/// <item>Check end to end on the evaluation tokens (the windows `mlconvert diff --context` scores);
/// max-KL: correct the factor and repeat, keeping the smallest model that measured within the budget.</item>
/// </list>
/// Shared tensors (an LS block, MobiLlama's FFN, a tied head) are one stored tensor: one decision.
/// Deterministic: every step is a pure function of the inputs; ties go to the first tensor in table order.
/// </summary>
public static class BudgetSearch
{
    /// <summary>Searches; the returned <see cref="BudgetResult.Types"/> go into <see cref="QuantPolicy.Assigned"/>.</summary>
    /// <param name="reference">The float model after the sharing passes (the KL reference, and what is quantized).</param>
    /// <param name="options">Budget, evaluation tokens, base policy.</param>
    /// <param name="progress">Receives stage "budget" (errors, probe, each check with its estimate, the budget and the bytes).</param>
    /// <exception cref="ModelUsageException">The budget cannot be met by any candidate model.</exception>
    public static BudgetResult Run(ModelIr reference, BudgetOptions options, IProgress<ConversionProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Tokens.Count == 0) throw new ModelUsageException("the evaluation text has no tokens");
        if (!double.IsFinite(options.Value) || options.Value < 0) throw new ModelUsageException($"budget {options.Value} must be a finite number >= 0");
        var clock = Stopwatch.StartNew();
        var space = BudgetCandidates.Build(reference, options, progress);
        var models = new BudgetModels(reference, options, space);
        var trials = new List<BudgetTrial>();
        string budgetText = Describe(options);

        var start = new int[space.Count];
        long? target = options.Kind == BudgetKind.MaxKl ? null : TargetBytes(reference, options);
        // Refused before any model runs: no search can go below every tensor's smallest candidate.
        if (space.Bytes(start) > target)
            throw new ModelUsageException($"{budgetText}: the smallest model the candidate types allow stores {space.Bytes(start)} tensor bytes, over the budget of {target}");

        // Probe: every searched tensor at its smallest candidate, each measured alone on a short window.
        var probeTokens = options.Tokens.Take(Math.Max(1, options.ProbeTokens)).ToArray();
        var probe = DiffEngine.Run("reference", reference, [new DiffCandidate("budget", models.Build(start))], new DiffOptions
        {
            Tokens = probeTokens, TextSource = options.TextSource, Context = Math.Min(probeTokens.Length, options.Context),
            Executor = options.Executor, PerTensor = true, PerTensorTokens = probeTokens.Length,
        }, Relabel(progress, $"probe: {space.Count} tensors, {space.CandidateCount} candidates"));
        var measured = probe.Result.Candidates[0];
        var deltas = measured.Tensors!.ToDictionary(t => t.Name, t => t.DeltaKl, StringComparer.Ordinal);
        space.SetProbe(deltas);
        double probeSum = space.Estimate(start);
        double scale = probeSum > 0 ? measured.Kl.Mean / probeSum : 1;

        int[] chosen;
        double chosenKl;
        if (options.Kind == BudgetKind.MaxKl)
        {
            (chosen, chosenKl) = MaxKl(space, models, options, scale, trials, progress, budgetText);
        }
        else
        {
            chosen = space.GreedyWithin(target!.Value);
            double estimate = scale * space.Estimate(chosen);
            Report(progress, $"check: estimate {Num(estimate)}, {space.Bytes(chosen)} of {target} bytes");
            chosenKl = models.Measure(chosen, Relabel(progress, "check"));
            trials.Add(new BudgetTrial(space.Bytes(chosen), estimate, chosenKl, true));
        }
        var tensors = space.Describe(chosen);
        return new BudgetResult(tensors.ToDictionary(t => t.Name, t => t.Type, StringComparer.Ordinal), tensors, chosenKl, space.Bytes(chosen),
            target, trials, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The byte bound of a size budget: the bytes given, or bits per stored parameter times the parameters.</summary>
    public static long TargetBytes(ModelIr reference, BudgetOptions options) => options.Kind switch
    {
        BudgetKind.TargetSize => checked((long)Math.Floor(options.Value)),
        BudgetKind.TargetBpw => checked((long)Math.Floor(options.Value * reference.StoredParameters / 8)),
        _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "not a size budget"),
    };

    private static (int[] State, double Kl) MaxKl(BudgetCandidates space, BudgetModels models, BudgetOptions options, double scale,
        List<BudgetTrial> trials, IProgress<ConversionProgress>? progress, string budgetText)
    {
        double max = options.Value;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int[]? best = null;
        double bestKl = double.NaN;
        // The smallest correction factor whose model passed and the largest whose model failed: once both
        // are known the next factor is their geometric mean (a larger factor gives a larger model).
        double passScale = double.NaN, failScale = double.NaN;
        for (int v = 0; v < BudgetOptions.MaxVerifications; v++)
        {
            var state = space.GreedyUntil(scale > 0 ? max / scale : double.PositiveInfinity);
            if (!seen.Add(string.Join(',', state))) break;
            double raw = space.Estimate(state);
            Report(progress, $"check {v + 1}: estimate {Num(scale * raw)} vs budget {Num(max)}, {space.Bytes(state)} bytes");
            double kl = models.Measure(state, Relabel(progress, $"check {v + 1}"));
            bool pass = kl <= max;
            trials.Add(new BudgetTrial(space.Bytes(state), scale * raw, kl, pass));
            Report(progress, $"check {v + 1}: measured {Num(kl)} vs budget {Num(max)}, {space.Bytes(state)} bytes");
            if (pass && (best is null || space.Bytes(state) < space.Bytes(best))) (best, bestKl) = (state, kl);
            if (space.IsLargest(state) || raw <= 0) break;
            if (pass) passScale = double.IsNaN(passScale) ? scale : Math.Min(passScale, scale);
            else failScale = double.IsNaN(failScale) ? scale : Math.Max(failScale, scale);
            // Correct the estimate by what was measured; after a failure always move up, so the loop ends.
            double corrected = kl / raw;
            if (!double.IsNaN(passScale) && !double.IsNaN(failScale)) scale = Math.Sqrt(passScale * failScale);
            else if (pass) scale = Math.Min(corrected, scale);
            else scale = Math.Max(corrected, scale * 1.5);
        }
        if (best is not null) return (best, bestKl);
        var largest = space.Largest();
        if (!seen.Contains(string.Join(',', largest)))
        {
            double kl = models.Measure(largest, Relabel(progress, "check: every tensor at its largest type"));
            trials.Add(new BudgetTrial(space.Bytes(largest), scale * space.Estimate(largest), kl, kl <= max));
            if (kl <= max) return (largest, kl);
            throw Unreachable(budgetText, kl, options);
        }
        throw Unreachable(budgetText, trials[^1].MeasuredKl, options);
    }

    private static ModelUsageException Unreachable(string budgetText, double kl, BudgetOptions options) => new(
        $"{budgetText} is out of reach: with every searched tensor at its largest candidate type (f16) the mean KL is {Num(kl)} " +
        $"on {options.Tokens.Count} tokens of {options.TextSource}; loosen the budget, or convert without one (--quant f32 keeps the weights exact)");

    internal static string Describe(BudgetOptions o) => o.Kind switch
    {
        BudgetKind.MaxKl => $"--max-kl {Num(o.Value)}",
        BudgetKind.TargetSize => $"--target-size {o.Value.ToString("R", CultureInfo.InvariantCulture)}",
        _ => $"--target-bpw {o.Value.ToString("R", CultureInfo.InvariantCulture)}",
    };

    private static string Num(double x) => x.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>One finished line of the search (a progress bar shows the stage text whole and ends the line).</summary>
    private static void Report(IProgress<ConversionProgress>? progress, string what) =>
        progress?.Report(new ConversionProgress("budget " + what, 1, 1, null, ProgressUnit.Items));

    /// <summary>DiffEngine's progress (stage "diff", windows and tensors) shown as the search's stage with what it is for.</summary>
    private static IProgress<ConversionProgress>? Relabel(IProgress<ConversionProgress>? progress, string what) =>
        progress is null ? null : new RelabelledProgress(progress, what);

    private sealed class RelabelledProgress(IProgress<ConversionProgress> inner, string what) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value) => inner.Report(value with { Stage = "budget " + what });
    }
}
