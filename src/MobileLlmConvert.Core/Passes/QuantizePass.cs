using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Core.Passes;

/// <summary>Why a tensor gets the type it gets.</summary>
public enum QuantRole
{
    /// <summary>A 1-D tensor (an RMSNorm weight): kept in a float type.</summary>
    Vector,
    /// <summary>The token embedding or the output head: 8-bit by default.</summary>
    EmbeddingOrHead,
    Matrix,
}

/// <summary>
/// The decision for one stored tensor: its current type, the type asked for (scheme or override),
/// the type it gets (<see cref="Target"/>, which differs from <see cref="Requested"/> only on a
/// fallback), and the reason in words when the plan did not do the obvious.
/// </summary>
public sealed record QuantDecision(string Name, QuantRole Role, ElementType From, ElementType Requested, ElementType Target, string? Fallback, string? Note)
{
    public bool Changes => From != Target;
}

/// <summary>
/// Gives every stored tensor the element type a <see cref="QuantPolicy"/> asks for. Pure and lazy: new
/// tensors are <see cref="ComputedSource"/>s that convert when a writer or the executor reads them,
/// one row at a time, so a conversion streams and peak memory stays a few tensors. The pass itself
/// never reads tensor bytes. Each stored tensor is converted once: a shared block or a tied head is
/// one entry in the tensor table, so it is one decision and one source.
/// <para>
/// Fallback (a width that is not a multiple of the group is never skipped silently): Q4_K to Q5_0 and
/// Q6_K to Q8_0 as llama-quantize does; else the largest
/// group of the same kind that divides the width, else q8 group 32 if it divides, else F16; the
/// report's warnings name each tensor, its width and what it got. With <see cref="QuantPolicy.Strict"/>
/// the pass throws <see cref="QuantPolicyException"/> naming the tensor and the width instead.
/// </para>
/// Tensors already in a quantized type are kept as they are unless the target is a float type
/// (dequantizing is exact; re-quantizing to another block type would compound the error).
/// </summary>
public sealed class QuantizePass(QuantPolicy policy, ImportanceMap? importance = null) : IPass
{
    public QuantPolicy Policy { get; } = policy;

    /// <summary>
    /// Per-column importance of the matrices (calibration text or imatrix file), or null. With
    /// <see cref="QuantRounding.Search"/> a tensor that has it is quantized with the importance-weighted search.
    /// </summary>
    public ImportanceMap? Importance { get; } = importance;

    public string Name => "Quantize";

    /// <summary>The decision for every stored tensor, in table order; reads no tensor bytes.</summary>
    public IReadOnlyList<QuantDecision> Plan(ModelIr ir)
    {
        var vectorKeys = new HashSet<string>(StringComparer.Ordinal) { ir.FinalNorm };
        foreach (var step in ir.Steps)
        {
            vectorKeys.Add(step.AttnNorm);
            vectorKeys.Add(step.FfnNorm);
        }
        var decisions = new List<QuantDecision>(ir.Tensors.Count);
        foreach (var t in ir.Tensors)
        {
            var role = t.Shape.Length <= 1 || vectorKeys.Contains(t.Name) ? QuantRole.Vector
                : t.Name == ir.Embedding || t.Name == ir.Output ? QuantRole.EmbeddingOrHead
                : QuantRole.Matrix;
            decisions.Add(Decide(t, role));
        }
        return decisions;
    }

    private QuantDecision Decide(Tensor t, QuantRole role)
    {
        var over = Policy.OverrideFor(t.Name);
        ElementType requested = Policy.Assigned.TryGetValue(t.Name, out var assigned) && role != QuantRole.Vector ? assigned
            : over is not null ? over.Target.Resolve(Policy.GroupSize) : role switch
        {
            QuantRole.Vector => ElementType.F32,
            // 8-bit at the policy's group for every quantized scheme; float schemes keep the head in that float type.
            // (group 32 when the policy's group has no 8-bit type, e.g. the 256-value K-quants).
            QuantRole.EmbeddingOrHead when Policy.IsQuantized => ElementTypes.Find(QuantKind.Int8Symmetric, Policy.GroupSize) ?? ElementType.Q8_0,
            _ => QuantPolicy.TypeOf(Policy.Scheme, Policy.GroupSize),
        };
        string? note = null;
        if (role == QuantRole.Vector && requested.Info().IsQuantized)
        {
            note = $"{t.Name}: override {over!.Pattern}={over.Target} ignored, a 1-D tensor (norm) stays f32";
            requested = ElementType.F32;
        }
        var (target, fallback) = Fit(t, requested);
        if (t.Type.Info().IsQuantized && target.Info().IsQuantized && target != t.Type)
        {
            note = $"{t.Name}: already {t.Type.Info().Name}, kept (re-quantizing to {target.Info().Name} would compound the error)";
            return new QuantDecision(t.Name, role, t.Type, requested, t.Type, null, note);
        }
        return new QuantDecision(t.Name, role, t.Type, requested, target, fallback, note);
    }

    /// <summary>The requested type if the input width is whole blocks of it, else the fallback and why.</summary>
    private (ElementType Type, string? Why) Fit(Tensor t, ElementType requested)
    {
        var info = requested.Info();
        long width = t.Shape.Length == 0 ? 1 : t.Shape[^1];
        if (width % info.BlockValues == 0) return (requested, null);
        string why = $"input width {width} is not a multiple of {info.Name} group size {info.BlockValues}";
        if (Policy.Strict)
            throw new QuantPolicyException($"tensor {t.Name}: {why} (strict: no fallback; choose another --group-size or add an override for it)");
        // The K-quants fall back as llama-quantize does (tensor_type_fallback in llama.cpp src/llama-quant.cpp):
        // Q4_K to Q5_0, Q6_K to Q8_0; the group types to a smaller group of their kind.
        ElementType? fallback = info.Kind switch
        {
            QuantKind.K4 when width % 32 == 0 => ElementType.Q5_0,
            QuantKind.K6 when width % 32 == 0 => ElementType.Q8_0,
            _ => null,
        };
        for (int i = QuantPolicy.GroupSizes.Length - 1; i >= 0 && fallback is null; i--)
        {
            int g = QuantPolicy.GroupSizes[i];
            if (g < info.BlockValues && width % g == 0) fallback = ElementTypes.Find(info.Kind, g);
        }
        if (fallback is null && width % 32 == 0) fallback = ElementType.Q8_0;
        fallback ??= ElementType.F16;
        return (fallback.Value, why);
    }

    public PassResult Run(ModelIr ir)
    {
        var plan = Plan(ir);
        var tensors = new List<Tensor>(ir.Tensors.Count);
        for (int i = 0; i < plan.Count; i++)
        {
            var t = ir.Tensors[i];
            tensors.Add(plan[i].Changes ? Convert(t, plan[i].Target) : t);
        }
        bool changed = plan.Any(d => d.Changes);
        var result = changed ? ir with { Tensors = tensors } : ir;
        return new PassResult(result, Report(ir, result, plan, changed));
    }

    private PassReport Report(ModelIr before, ModelIr after, IReadOnlyList<QuantDecision> plan, bool changed)
    {
        var notes = new List<string> { $"policy: {Policy}" };
        var counts = plan.GroupBy(d => d.Target).OrderBy(g => g.Key)
            .Select(g => $"{g.Key.Info().Name} x{g.Count()}");
        notes.Add($"stored tensors by type: {string.Join(", ", counts)} ({plan.Count(d => d.Changes)} converted, {plan.Count(d => !d.Changes)} unchanged)");
        foreach (var d in plan.Where(d => d.Role == QuantRole.EmbeddingOrHead))
            notes.Add($"{d.Name} (embedding/head): {d.Target.Info().Name}");
        notes.Add($"stored bytes: {before.StoredBytes} -> {after.StoredBytes}");
        if (Importance is not null && Policy.Rounding == QuantRounding.Search)
        {
            var quantized = plan.Where(d => d.Changes && d.Target.Info().IsQuantized).ToList();
            var weighted = quantized.Where(d => Importance.For(d.Name) is not null).Select(d => d.Name).ToList();
            notes.Add($"importance ({Importance.Source}): {weighted.Count} of {quantized.Count} quantized tensors weighted"
                + (weighted.Count < quantized.Count ? $"; unweighted: {string.Join(", ", quantized.Select(d => d.Name).Except(weighted))}" : ""));
        }
        var warnings = new List<string>();
        // One line per (requested, target, width): every tensor named, none skipped silently.
        foreach (var g in plan.Where(d => d.Fallback is not null).GroupBy(d => (d.Requested, d.Target, d.Fallback)))
            warnings.Add($"fell back to {g.Key.Target.Info().Name} instead of {g.Key.Requested.Info().Name} ({g.Key.Fallback}): {string.Join(", ", g.Select(d => d.Name))}");
        foreach (var d in plan.Where(d => d.Note is not null)) warnings.Add(d.Note!);
        if (Importance is not null) warnings.AddRange(Importance.Warnings);
        return new PassReport(Name, changed, notes, warnings,
            before.StoredParameters, after.StoredParameters, before.StoredBytes, after.StoredBytes);
    }

    /// <summary>A lazily converted copy of <paramref name="t"/>; its bytes are computed row by row when read.</summary>
    private Tensor Convert(Tensor t, ElementType target)
    {
        long length = target.ByteSize(t.Shape) ?? throw new InvalidOperationException($"tensor {t.Name}: {target.Info().Name} does not fit {Shapes.Format(t.Shape)}");
        var rounding = Policy.Rounding;
        var importance = Importance?.For(t.Name);
        if (importance is not null && importance.Length != t.Columns)
            throw new InvalidOperationException($"tensor {t.Name}: importance has {importance.Length} columns, the tensor {t.Columns}");
        // Each output row depends on its input row alone: over a source that reads ranges, any run of
        // rows is computed on its own, so a writer streams the tensor in chunks (TensorPipeline).
        int cols = t.Shape.Length == 0 ? 1 : t.Columns;
        int dstRow = Math.Max(1, checked((int)target.ByteSize([cols])!.Value));
        var source = t.Source.CanCopyRanges
            ? new ComputedSource(length, dstRow, (offset, dst) => Fill(t, target, rounding, importance, offset / dstRow, dst), t.Source)
            : new ComputedSource(length, dst => Fill(t, target, rounding, importance, 0, dst), t.Source);
        return new Tensor(t.Name, t.Shape, target, source);
    }

    /// <summary>
    /// Converts the rows of <paramref name="t"/> from <paramref name="firstRow"/> on into
    /// <paramref name="dst"/> (as many as it holds), in row blocks on every core
    /// (<see cref="RowParallel"/>): each row's bytes depend on that row alone, so the result is the
    /// same for any thread count and any cut into ranges. A source that reads ranges (a file slice) is
    /// read block by block through small buffers; a computed one is materialized once.
    /// </summary>
    private static unsafe void Fill(Tensor t, ElementType target, QuantRounding rounding, float[]? importance, long firstRow, Span<byte> dst)
    {
        int cols = t.Shape.Length == 0 ? 1 : t.Columns;
        int srcRow = checked((int)t.Type.ByteSize([cols])!.Value);
        int dstRow = checked((int)target.ByteSize([cols])!.Value);
        long rows = dstRow == 0 ? 0 : dst.Length / dstRow;
        byte[]? whole = t.Source.CanCopyRanges ? null : t.Source.ToArray();
        var firstBad = new NonFinite(long.MaxValue, 0, 0);
        var gate = new object();
        fixed (byte* dstPointer = dst)
        {
            nint output = (nint)dstPointer;
            RowParallel.For(rows, srcRow, (block, count) =>
            {
                long first = firstRow + block;
                int inBytes = checked(count * srcRow);
                byte[]? rented = null;
                try
                {
                    ReadOnlySpan<byte> input;
                    if (whole is not null)
                    {
                        input = whole.AsSpan(checked((int)(first * srcRow)), inBytes);
                    }
                    else
                    {
                        rented = System.Buffers.ArrayPool<byte>.Shared.Rent(inBytes);
                        t.Source.CopyRange(first * srcRow, rented.AsSpan(0, inBytes));
                        input = rented.AsSpan(0, inBytes);
                    }
                    var d = new Span<byte>((byte*)output + block * dstRow, checked(count * dstRow));
                    if (ConvertRows(t, target, rounding, importance, input, d, cols, count, srcRow, dstRow, first) is { } bad)
                    {
                        lock (gate) if (bad.Row < firstBad.Row) firstBad = bad;
                    }
                }
                finally
                {
                    if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
                }
            });
        }
        // Refused as the serial loop would: at the first row (and column) holding a non-finite value.
        if (firstBad.Row != long.MaxValue)
            throw new InvalidDataException($"tensor {t.Name}: row {firstBad.Row} column {firstBad.Column} holds {firstBad.Value}; refusing to quantize a non-finite value to {target.Info().Name}");
    }

    private readonly record struct NonFinite(long Row, int Column, float Value);

    /// <summary>Converts consecutive rows starting at row <paramref name="first"/>; stops at, and returns, the first non-finite value bound for a quantized type.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static NonFinite? ConvertRows(Tensor t, ElementType target, QuantRounding rounding, float[]? importance, ReadOnlySpan<byte> src, Span<byte> dst,
        int cols, int count, int srcRow, int dstRow, long first)
    {
        bool toQuant = target.Info().IsQuantized;
        var row = new float[cols];
        for (int r = 0; r < count; r++)
        {
            var s = src.Slice(r * srcRow, srcRow);
            if (t.Type.Info().IsQuantized) QuantOps.Dequantize(t.Type, s, row);
            else FloatConvert.ToSingle(s, t.Type, row);
            var d = dst.Slice(r * dstRow, dstRow);
            if (!toQuant)
            {
                FloatConvert.FromSingle(row, target, d);
                continue;
            }
            // A NaN or infinity would make its block's scale non-finite and every value in it garbage.
            for (int j = 0; j < cols; j++)
            {
                if (!float.IsFinite(row[j])) return new NonFinite(first + r, j, row[j]);
            }
            QuantOps.Quantize(target, row, d, rounding, importance);
        }
        return null;
    }
}

