using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// Importance from a calibration text: runs the executor over the token stream in windows (each from
/// an empty KV cache, as `diff` scores them) and collects, for every stored matrix, the per-column
/// mean x² of the activations it multiplies (llama.cpp tools/imatrix/imatrix.cpp collects the same
/// Σx² and row counts per weight). Q, K and V share one input, gate and up another; a stored matrix
/// that several executed steps use (MobileLLM-LS's repeated blocks, MobiLlama's shared FFN) gets the
/// rows of every step that runs it.
/// </summary>
public static class Calibration
{
    /// <summary>Longest calibration stream taken, in tokens (llama-imatrix's default is 100 chunks of 512).</summary>
    public const int MaxTokens = 1 << 20;

    /// <summary>
    /// Runs <paramref name="ir"/> (a float model: the source of a conversion) on <paramref name="tokens"/>
    /// in windows of <paramref name="context"/> tokens and returns the mean x² per input column of every
    /// stored matrix; <paramref name="progress"/> receives stage "calibrate" with tokens done of the total.
    /// </summary>
    public static ImportanceMap Collect(ModelIr ir, IReadOnlyList<int> tokens, int context, ExecutorOptions executor, string source,
        IProgress<ConversionProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(ir);
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0) throw new ArgumentException("no calibration tokens", nameof(tokens));
        if (tokens.Count > MaxTokens) throw new ArgumentException($"{tokens.Count} calibration tokens exceed the cap of {MaxTokens}", nameof(tokens));
        if (context < 1) throw new ArgumentOutOfRangeException(nameof(context), context, "context must be at least 1");
        var collector = new ImportanceCollector(ir);
        var ids = tokens.ToArray();
        var windows = DiffEngine.Windows(ids.Length, context);
        using var model = new Transformer(ir, executor with { MaxContext = context });
        model.MatMulInputObserver = collector;
        var logits = new float[checked(context * ir.Config.VocabSize)];
        long done = 0;
        foreach (var (start, length) in windows)
        {
            model.Reset();
            model.Forward(ids.AsSpan(start, length), logits);
            done += length;
            progress?.Report(new ConversionProgress("calibrate", done, ids.Length, $"{done}/{ids.Length} tokens", ProgressUnit.Items));
        }
        return collector.Accumulator.Build($"{source}, {ids.Length} tokens");
    }
}

/// <summary>
/// The <see cref="IMatMulInputObserver"/> that sums x² per column onto the stored tensors each input
/// multiplies (by IR key, so steps sharing a tensor add onto one entry).
/// </summary>
public sealed class ImportanceCollector : IMatMulInputObserver
{
    private readonly ModelIr _ir;
    private float[] _sums = [];

    /// <summary>A collector for an executor running <paramref name="ir"/>.</summary>
    public ImportanceCollector(ModelIr ir) => _ir = ir;

    /// <summary>What has been collected so far.</summary>
    public ImportanceAccumulator Accumulator { get; } = new();

    /// <inheritdoc />
    public void OnMatMulInput(int step, TensorRole role, ReadOnlySpan<float> rows, int n)
    {
        if (n <= 0) return;
        int cols = rows.Length / n;
        if (_sums.Length != cols) _sums = new float[cols];
        var sums = _sums.AsSpan();
        sums.Clear();
        for (int r = 0; r < n; r++)
        {
            var x = rows.Slice(r * cols, cols);
            for (int j = 0; j < cols; j++) sums[j] += x[j] * x[j];
        }
        foreach (var key in Keys(step, role)) Accumulator.AddSums(key, sums, n);
    }

    /// <summary>The stored tensors an input of (step, role) multiplies.</summary>
    private IEnumerable<string> Keys(int step, TensorRole role)
    {
        if (role == TensorRole.Output)
        {
            yield return _ir.Output;
            yield break;
        }
        var s = _ir.Steps[step];
        switch (role)
        {
            case TensorRole.Q:
                yield return s.Q;
                yield return s.K;
                yield return s.V;
                break;
            case TensorRole.O:
                yield return s.O;
                break;
            case TensorRole.Gate:
                yield return s.Gate;
                yield return s.Up;
                break;
            case TensorRole.Down:
                yield return s.Down;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(role), role, "not a matrix-multiply input role");
        }
    }
}
