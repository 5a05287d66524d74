using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>
/// Folds K/V heads that are exact copies back into grouped-query attention. Hugging Face's repeat_kv
/// turns a GQA model into MHA by repeating each kv head H/KV times consecutively (query head h uses
/// kv head h / (H/KV)); this pass finds the largest group size g dividing n_kv such that, in every
/// step, the g consecutive heads of each group are byte-identical in both K and V, keeps the first
/// head of each group and sets n_kv to n_kv / g. Query head h then reads folded head h / (H/(n_kv/g)),
/// which is the head it read before, so attention output is unchanged. Nothing is assumed from the
/// config: MobiLlama's config says 4 kv heads while its code runs full MHA (github.com/mbzuai-oryx/MobiLlama, model_utils/modeling_mobillama.py).
/// </summary>
public sealed class FoldGqa : IPass
{
    /// <inheritdoc/>
    public string Name => "FoldGqa";

    /// <inheritdoc/>
    public PassResult Run(ModelIr ir)
    {
        // Head offsets are computed from the config: K/V shapes must be what it implies (no byte is read here).
        IrValidator.Validate(ir, ir.SourcePath ?? "(ir)");
        var c = ir.Config;
        var keys = KvHeadRows.KvKeys(ir, out var conflict);
        if (keys is null)
        {
            var r = PassReport.Unchanged(Name, ir) with { Warnings = [$"{conflict} is used as K or V and in another role: K/V heads not folded"] };
            return new(ir, r);
        }
        if (c.NumKvHeads == 1)
            return new(ir, PassReport.Unchanged(Name, ir, "one kv head: nothing to fold"));

        // Each K/V tensor is read once: classes[i] = first head byte-identical to head i.
        var classes = keys.Select(k => HeadClasses(ir[k], c.NumKvHeads)).ToList();
        int group = 1;
        for (int g = c.NumKvHeads; g > 1; g--)
        {
            if (c.NumKvHeads % g == 0 && classes.All(cls => GroupsRepeat(cls, g)))
            {
                group = g;
                break;
            }
        }
        if (group == 1)
            return new(ir, PassReport.Unchanged(Name, ir, $"no K/V heads repeat in every step: n_kv stays {c.NumKvHeads}"));

        int folded = c.NumKvHeads / group;
        var replaced = keys.ToDictionary(k => k, k => KvHeadRows.Select(ir[k], c.HeadDim, folded, j => j * group), StringComparer.Ordinal);
        var result = ir with
        {
            Tensors = ir.Tensors.Select(t => replaced.TryGetValue(t.Name, out var f) ? f : t).ToList(),
            Config = c with { NumKvHeads = folded },
        };
        string note = $"K/V heads repeat in consecutive groups of {group} in all {ir.Steps.Count} steps (as repeat_kv writes them): " +
                      $"folded n_kv {c.NumKvHeads} -> {folded}; f32 KV cache per token {TensorBytes.Count(KvCacheSize.BytesPerToken(c))} -> " +
                      $"{TensorBytes.Count(KvCacheSize.BytesPerToken(result.Config))} bytes";
        return new(result, new PassReport(Name, true, [note], [], ir.StoredParameters, result.StoredParameters, ir.StoredBytes, result.StoredBytes));
    }

    /// <summary>For each head, the index of the first head with the same bytes (itself when unique).</summary>
    internal static int[] HeadClasses(Tensor t, int heads)
    {
        var bytes = t.Source.Read();
        int headBytes = checked((int)(t.ByteLength / heads));
        var cls = new int[heads];
        var reps = new List<int>();
        for (int i = 0; i < heads; i++)
        {
            var head = bytes.Slice(i * headBytes, headBytes);
            cls[i] = i;
            foreach (int r in reps)
            {
                if (head.SequenceEqual(bytes.Slice(r * headBytes, headBytes)))
                {
                    cls[i] = r;
                    break;
                }
            }
            if (cls[i] == i) reps.Add(i);
        }
        return cls;
    }

    /// <summary>True when every head equals the first head of its consecutive group of <paramref name="g"/>.</summary>
    private static bool GroupsRepeat(int[] cls, int g)
    {
        for (int i = 0; i < cls.Length; i++)
        {
            if (cls[i] != cls[i / g * g]) return false;
        }
        return true;
    }
}

/// <summary>
/// Expands grouped K/V heads to one per query head (n_kv == n_heads) for a target that needs MHA:
/// new head h is old head h / (H/KV), exactly what repeat_kv computes, so attention is unchanged.
/// </summary>
public sealed class UnfoldGqa : IPass
{
    /// <inheritdoc/>
    public string Name => "UnfoldGqa";

    /// <inheritdoc/>
    public PassResult Run(ModelIr ir)
    {
        IrValidator.Validate(ir, ir.SourcePath ?? "(ir)");
        var c = ir.Config;
        if (c.NumKvHeads == c.NumHeads)
            return new(ir, PassReport.Unchanged(Name, ir, $"already one kv head per query head ({c.NumHeads})"));
        var keys = KvHeadRows.KvKeys(ir, out var conflict)
                   ?? throw new InvalidOperationException($"UnfoldGqa: {conflict} is used as K or V and in another role; its heads cannot be expanded");
        int group = c.KvGroup;
        var replaced = keys.ToDictionary(k => k, k => KvHeadRows.Select(ir[k], c.HeadDim, c.NumHeads, h => h / group), StringComparer.Ordinal);
        var result = ir with
        {
            Tensors = ir.Tensors.Select(t => replaced.TryGetValue(t.Name, out var f) ? f : t).ToList(),
            Config = c with { NumKvHeads = c.NumHeads },
        };
        string note = $"expanded n_kv {c.NumKvHeads} -> {c.NumHeads} (each kv head repeated {group} times); f32 KV cache per token " +
                      $"{TensorBytes.Count(KvCacheSize.BytesPerToken(c))} -> {TensorBytes.Count(KvCacheSize.BytesPerToken(result.Config))} bytes";
        return new(result, new PassReport(Name, true, [note], [], ir.StoredParameters, result.StoredParameters, ir.StoredBytes, result.StoredBytes));
    }
}
