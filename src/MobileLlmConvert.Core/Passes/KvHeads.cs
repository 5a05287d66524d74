using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>KV-cache size, the number FoldGqa shrinks and `inspect` prints.</summary>
internal static class KvCacheSize
{
    /// <summary>Bytes of an f32 KV cache.</summary>
    public const int F32 = 4;

    /// <summary>
    /// Cache bytes per token: K and V (2) for every executed step (each has its own slot, DESIGN.md)
    /// x n_kv heads x head_dim x bytes per element.
    /// </summary>
    public static long BytesPerToken(ModelConfig config, int elementBytes = F32) =>
        checked(2L * config.ExecutedLayers * config.NumKvHeads * config.HeadDim * elementBytes);
}

/// <summary>Row selections over K/V projections, shared by <see cref="FoldGqa"/> and <see cref="UnfoldGqa"/>.</summary>
internal static class KvHeadRows
{
    /// <summary>
    /// A lazy tensor whose head <c>j</c> is head <c>pick(j)</c> of <paramref name="source"/>. Heads are
    /// whole rows (head_dim rows each), so this is a byte copy for any element type, quantized too.
    /// </summary>
    public static Tensor Select(Tensor source, int headDim, int newHeads, Func<int, int> pick)
    {
        long headBytes = checked(source.ByteLength / source.Shape[0] * headDim);
        var shape = source.Shape.ToArray();
        shape[0] = checked((long)newHeads * headDim);
        var picks = Enumerable.Range(0, newHeads).Select(pick).ToArray();
        var src = source.Source;
        var computed = new ComputedSource(checked(headBytes * newHeads), dst =>
        {
            var bytes = src.Read();
            for (int j = 0; j < picks.Length; j++)
                bytes.Slice((int)(picks[j] * headBytes), (int)headBytes).CopyTo(dst.Slice((int)(j * headBytes), (int)headBytes));
        });
        return new Tensor(source.Name, shape, source.Type, computed);
    }

    /// <summary>
    /// The distinct K and V keys of every step, or null with a reason when a K/V key also plays
    /// another role (then reshaping it would change that role too).
    /// </summary>
    public static IReadOnlyList<string>? KvKeys(ModelIr ir, out string? conflict)
    {
        var kv = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in ir.Steps)
        {
            if (seen.Add(s.K)) kv.Add(s.K);
            if (seen.Add(s.V)) kv.Add(s.V);
        }
        var others = new HashSet<string>(StringComparer.Ordinal) { ir.Embedding, ir.FinalNorm, ir.Output };
        foreach (var s in ir.Steps)
        {
            foreach (var (role, key) in TensorRoles.Of(s))
            {
                if (role is not (TensorRole.K or TensorRole.V)) others.Add(key);
            }
        }
        conflict = kv.FirstOrDefault(others.Contains);
        return conflict is null ? kv : null;
    }
}
