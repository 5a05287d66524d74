using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;

namespace MobileLlmConvert.Tests.Passes;

internal static class PassTestKit
{
    /// <summary>The IR with every source wrapped in a counter; spannable = false behaves like a computed source.</summary>
    public static (ModelIr Ir, Dictionary<string, CountingSource> Counters) Counting(ModelIr ir, bool spannable)
    {
        var counters = new Dictionary<string, CountingSource>(StringComparer.Ordinal);
        var tensors = ir.Tensors.Select(t =>
        {
            var c = new CountingSource(t.Source, spannable);
            counters[t.Name] = c;
            return new Tensor(t.Name, t.Shape, t.Type, c);
        }).ToList();
        return (ir with { Tensors = tensors }, counters);
    }

    /// <summary>
    /// Unique weights of a model generated from <paramref name="spec"/>, from its dimensions alone
    /// (not from any IR): embedding, final norm, per block two norms, q, k, v, o, the FFN once per
    /// block (once in all for MobiLlama), and an untied head.
    /// </summary>
    public static long UniqueWeights(SyntheticSpec spec)
    {
        long h = spec.HiddenSize, hd = spec.ResolvedHeadDim, layers = spec.StoredLayers;
        long attention = 2 * h + 2 * spec.NumHeads * hd * h + 2 * spec.NumKvHeads * hd * h;
        long ffn = 3L * spec.IntermediateSize * h;
        long embedding = (long)spec.VocabSize * h;
        return embedding + h + layers * attention + (spec.Family == ModelFamily.MobiLlama ? ffn : layers * ffn) + (spec.Tied ? 0 : embedding);
    }

    public static byte[] Bytes(ModelIr ir, string key) => ir[key].Source.ToArray();

    /// <summary>
    /// Asserts that <paramref name="after"/> executes exactly what <paramref name="before"/> did:
    /// embedding, final norm, head and every role of every step resolve to tensors with identical
    /// type, shape and bytes; K and V are compared per query head (the rows each query head reads),
    /// so a fold or unfold of kv heads is allowed and nothing else is.
    /// </summary>
    public static void AssertSameExecution(ModelIr before, ModelIr after)
    {
        Assert.Equal(before.Steps.Count, after.Steps.Count);
        Assert.Equal(before.Config with { NumKvHeads = 0, StoredLayers = 0 }, after.Config with { NumKvHeads = 0, StoredLayers = 0 });
        SameTensor(before, before.Embedding, after, after.Embedding);
        SameTensor(before, before.FinalNorm, after, after.FinalNorm);
        SameTensor(before, before.Output, after, after.Output);
        for (int s = 0; s < before.Steps.Count; s++)
        {
            var b = before.Steps[s];
            var a = after.Steps[s];
            foreach (var role in TensorRoles.Step)
            {
                if (role is TensorRole.K or TensorRole.V) SameQueryHeadRows(before, b[role], after, a[role]);
                else SameTensor(before, b[role], after, a[role]);
            }
        }
    }

    private static void SameTensor(ModelIr before, string bk, ModelIr after, string ak)
    {
        var b = before[bk];
        var a = after[ak];
        Assert.Equal(b.Type, a.Type);
        Assert.Equal(b.Shape, a.Shape);
        Assert.True(b.Source.ToArray().AsSpan().SequenceEqual(a.Source.ToArray()), $"{ak} (was {bk}) changed bytes");
    }

    private static void SameQueryHeadRows(ModelIr before, string bk, ModelIr after, string ak)
    {
        var cb = before.Config;
        var ca = after.Config;
        var b = before[bk].Source.ToArray();
        var a = after[ak].Source.ToArray();
        Assert.Equal(before[bk].Type, after[ak].Type);
        int headBytesB = b.Length / cb.NumKvHeads;
        int headBytesA = a.Length / ca.NumKvHeads;
        Assert.Equal(headBytesB, headBytesA);
        for (int h = 0; h < cb.NumHeads; h++)
        {
            var rowsB = b.AsSpan(h / cb.KvGroup * headBytesB, headBytesB);
            var rowsA = a.AsSpan(h / ca.KvGroup * headBytesA, headBytesA);
            Assert.True(rowsB.SequenceEqual(rowsA), $"query head {h} reads different rows of {ak}");
        }
    }
}
