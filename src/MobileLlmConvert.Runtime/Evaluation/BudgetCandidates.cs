using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// The search space of <see cref="BudgetSearch"/>: for each searched tensor its candidate types (bytes
/// rising, squared weight error falling), and the arithmetic on states (one candidate index per
/// tensor): bytes, estimated KL, greedy upgrades.
/// </summary>
internal sealed class BudgetCandidates
{
    private readonly Tensor[] _tensors;
    private readonly ElementType[][] _types;
    private readonly long[][] _bytes;
    private readonly double[][] _error;
    private double[][] _delta;

    /// <summary>Bytes of every tensor the search does not decide (norms, pinned, already quantized), in the type the base policy gives them.</summary>
    public long FixedBytes { get; }

    private BudgetCandidates(Tensor[] tensors, ElementType[][] types, long[][] bytes, double[][] error, long fixedBytes)
    {
        _tensors = tensors;
        _types = types;
        _bytes = bytes;
        _error = error;
        _delta = error.Select(e => new double[e.Length]).ToArray();
        FixedBytes = fixedBytes;
    }

    /// <summary>Searched tensors.</summary>
    public int Count => _tensors.Length;
    /// <summary>Candidate types over every searched tensor.</summary>
    public int CandidateCount => _types.Sum(t => t.Length);
    /// <summary>A searched tensor's key.</summary>
    public string Name(int i) => _tensors[i].Name;
    /// <summary>The type of tensor <paramref name="i"/> at candidate <paramref name="c"/>.</summary>
    public ElementType Type(int i, int c) => _types[i][c];

    /// <summary>
    /// Which tensors are searched and their candidates. Searched: every matrix (embedding and head
    /// included) in a float type that no override pins. A candidate is f16 or a quantized type whose
    /// block divides the input width and the output format can store; candidates no smaller and no
    /// better than another are dropped. Errors are measured on <see cref="BudgetOptions.ErrorSampleRows"/>
    /// evenly spaced rows with the policy's rounding.
    /// </summary>
    public static BudgetCandidates Build(ModelIr reference, BudgetOptions options, IProgress<ConversionProgress>? progress)
    {
        var policy = options.BasePolicy;
        var plan = new QuantizePass(policy).Plan(reference);
        var searched = new List<Tensor>();
        long fixedBytes = 0;
        for (int i = 0; i < plan.Count; i++)
        {
            var t = reference.Tensors[i];
            bool search = plan[i].Role != QuantRole.Vector && policy.OverrideFor(t.Name) is null && !t.Type.Info().IsQuantized
                && t.Shape.Length == 2;
            if (search) searched.Add(t);
            else fixedBytes = checked(fixedBytes + (plan[i].Target.ByteSize(t.Shape) ?? t.ByteLength));
        }
        var types = new ElementType[searched.Count][];
        var bytes = new long[searched.Count][];
        var error = new double[searched.Count][];
        int done = 0;
        var gate = new object();
        Parallel.For(0, searched.Count, new ParallelOptions { MaxDegreeOfParallelism = options.Executor.Threads }, i =>
        {
            var t = searched[i];
            var open = ElementTypes.All
                .Where(r => (r.IsQuantized || r.Type == ElementType.F16) && t.Columns % r.BlockValues == 0 && (options.CanStore?.Invoke(r.Type) ?? true))
                .Select(r => r.Type).ToArray();
            var errs = SquaredErrors(t, open, policy.Rounding);
            // Bytes rising, error falling: a type no smaller and no better than one already kept is never worth its bytes.
            var order = Enumerable.Range(0, open.Length).OrderBy(k => open[k].ByteSize(t.Shape)!.Value).ThenBy(k => errs[k]).ThenBy(k => (int)open[k]);
            var kept = new List<int>();
            foreach (int k in order)
            {
                if (kept.Count == 0 || errs[k] < errs[kept[^1]]) kept.Add(k);
            }
            types[i] = kept.Select(k => open[k]).ToArray();
            bytes[i] = kept.Select(k => open[k].ByteSize(t.Shape)!.Value).ToArray();
            error[i] = kept.Select(k => errs[k]).ToArray();
            // One report at a time, counts rising: a progress bar is not thread-safe.
            lock (gate) progress?.Report(new ConversionProgress("budget weight errors", ++done, searched.Count, t.Name, ProgressUnit.Items));
        });
        return new BudgetCandidates([.. searched], types, bytes, error, fixedBytes);
    }

    /// <summary>Σ (w − w')² over the sampled rows, per type (0 for a type that reproduces the row).</summary>
    private static double[] SquaredErrors(Tensor t, ElementType[] types, QuantRounding rounding)
    {
        int rows = t.Rows, cols = t.Columns;
        int rowBytes = checked((int)t.Type.ByteSize([cols])!.Value);
        var src = t.Source.Read();
        int samples = Math.Min(rows, BudgetOptions.ErrorSampleRows);
        var row = new float[cols];
        var back = new float[cols];
        var buffer = new byte[checked(cols * 4)];
        var result = new double[types.Length];
        for (int s = 0; s < samples; s++)
        {
            int r = (int)((long)s * rows / samples);
            FloatConvert.ToSingle(src.Slice(checked(r * rowBytes), rowBytes), t.Type, row);
            for (int k = 0; k < types.Length; k++)
            {
                var type = types[k];
                var dst = buffer.AsSpan(0, checked((int)type.ByteSize([cols])!.Value));
                if (type.Info().IsQuantized)
                {
                    QuantOps.Quantize(type, row, dst, rounding);
                    QuantOps.Dequantize(type, dst, back);
                }
                else
                {
                    FloatConvert.FromSingle(row, type, dst);
                    FloatConvert.ToSingle(dst, type, back);
                }
                double sum = 0;
                for (int j = 0; j < cols; j++)
                {
                    double d = (double)row[j] - back[j];
                    sum += d * d;
                }
                result[k] += sum;
            }
        }
        return result;
    }

    /// <summary>
    /// Sets each tensor's KL estimate per candidate from the probe (every tensor at candidate 0):
    /// the measured KL times the candidate's squared error over candidate 0's.
    /// </summary>
    public void SetProbe(IReadOnlyDictionary<string, double> deltaAtSmallest)
    {
        _delta = new double[Count][];
        for (int i = 0; i < Count; i++)
        {
            double d0 = deltaAtSmallest.TryGetValue(_tensors[i].Name, out var d) ? Math.Max(0, d) : 0;
            double e0 = _error[i][0];
            _delta[i] = _error[i].Select(e => e0 > 0 ? d0 * e / e0 : 0).ToArray();
        }
    }

    /// <summary>Stored tensor bytes of a state (fixed tensors included).</summary>
    public long Bytes(int[] state)
    {
        long sum = FixedBytes;
        for (int i = 0; i < Count; i++) sum = checked(sum + _bytes[i][state[i]]);
        return sum;
    }

    /// <summary>Σ of the tensors' estimated KL (before the correction factor).</summary>
    public double Estimate(int[] state)
    {
        double sum = 0;
        for (int i = 0; i < Count; i++) sum += _delta[i][state[i]];
        return sum;
    }

    /// <summary>Every tensor at its largest candidate.</summary>
    public int[] Largest() => _types.Select(t => t.Length - 1).ToArray();

    /// <summary>Whether no tensor can be upgraded.</summary>
    public bool IsLargest(int[] state) => Enumerable.Range(0, Count).All(i => state[i] == _types[i].Length - 1);

    /// <summary>From the smallest state, the best KL-per-byte upgrades until the estimate is at most <paramref name="estimate"/> (or nothing helps).</summary>
    public int[] GreedyUntil(double estimate)
    {
        var state = new int[Count];
        double current = Estimate(state);
        while (current > estimate && Best(state, long.MaxValue) is var (i, c))
        {
            current += _delta[i][c] - _delta[i][state[i]];
            state[i] = c;
        }
        return state;
    }

    /// <summary>From the smallest state, the best KL-per-byte upgrades that keep the bytes within <paramref name="budget"/>.</summary>
    public int[] GreedyWithin(long budget)
    {
        var state = new int[Count];
        long bytes = Bytes(state);
        while (Best(state, budget - bytes) is var (i, c))
        {
            bytes += _bytes[i][c] - _bytes[i][state[i]];
            state[i] = c;
        }
        return state;
    }

    /// <summary>The upgrade (tensor, candidate) with the largest estimated KL saved per added byte, within <paramref name="room"/> bytes; null when none saves any.</summary>
    private (int Tensor, int Candidate)? Best(int[] state, long room)
    {
        (int, int)? best = null;
        double bestRate = 0;
        for (int i = 0; i < Count; i++)
        {
            int s = state[i];
            for (int c = s + 1; c < _types[i].Length; c++)
            {
                long added = _bytes[i][c] - _bytes[i][s];
                if (added > room) break;
                double rate = (_delta[i][s] - _delta[i][c]) / added;
                if (rate > bestRate) (best, bestRate) = ((i, c), rate);
            }
        }
        return best;
    }

    /// <summary>The choices of a state, in table order.</summary>
    public IReadOnlyList<BudgetTensor> Describe(int[] state) =>
        Enumerable.Range(0, Count).Select(i => new BudgetTensor(_tensors[i].Name, _types[i][state[i]], _bytes[i][state[i]], _delta[i][state[i]], _types[i].Length)).ToArray();
}
