using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

/// <summary>Small models of every family and helpers shared by the executor tests.</summary>
internal static class TestModels
{
    public static SyntheticSpec Spec(string name) => name switch
    {
        "llama-gqa" => new SyntheticSpec { Family = ModelFamily.Llama, NumHeads = 4, NumKvHeads = 2, Seed = 11 },
        "llama-tied" => new SyntheticSpec { Family = ModelFamily.Llama, NumHeads = 4, NumKvHeads = 1, Tied = true, Seed = 12 },
        "mobilellm-ls" => new SyntheticSpec { Family = ModelFamily.MobileLLM, NumHeads = 4, NumKvHeads = 2, LayerSharing = true, Tied = true, Seed = 13 },
        "mobillama" => new SyntheticSpec { Family = ModelFamily.MobiLlama, NumHeads = 4, NumKvHeads = 4, StoredLayers = 3, Seed = 14 },
        _ => throw new ArgumentException(name),
    };

    public static readonly string[] Families = ["llama-gqa", "llama-tied", "mobilellm-ls", "mobillama"];

    public static ModelIr Create(string name, ElementType dtype = ElementType.F32) => SyntheticModel.Create(Spec(name) with { DType = dtype }, TensorNames.HuggingFace);

    /// <summary>The same model with every matrix (embedding and head included) quantized to <paramref name="type"/>; norms stay as they were.</summary>
    public static ModelIr Quantize(ModelIr ir, ElementType type)
    {
        var tensors = ir.Tensors.Select(t =>
        {
            if (t.Shape.Length != 2) return t;
            var values = FloatConvert.ToSingleArray(t);
            var bytes = new byte[type.ByteSize(t.Shape)!.Value];
            QuantOps.Quantize(type, values, bytes);
            return new Tensor(t.Name, t.Shape, type, new MemorySource(bytes));
        }).ToList();
        return ir with { Tensors = tensors };
    }

    /// <summary>Token ids in the model's vocabulary, deterministic.</summary>
    public static int[] Tokens(int count, int vocab, ulong seed = 5)
    {
        var rng = new SplitMix64(seed);
        return Enumerable.Range(0, count).Select(_ => (int)(rng.NextUInt64() % (ulong)vocab)).ToArray();
    }

    /// <summary>Naive logits of every position, one token at a time: [count * vocab].</summary>
    public static float[] NaiveLogits(ModelIr ir, int[] tokens)
    {
        var naive = new NaiveTransformer(ir, tokens.Length);
        return tokens.SelectMany(naive.Forward).ToArray();
    }

    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        foreach (var v in logits) max = MathF.Max(max, v);
        var p = new float[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = MathF.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++) p[i] = (float)(p[i] / sum);
        return p;
    }

    public static float MaxAbs(ReadOnlySpan<float> a)
    {
        float m = 0;
        foreach (var v in a) m = MathF.Max(m, MathF.Abs(v));
        return m;
    }

    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = MathF.Max(m, MathF.Abs(a[i] - b[i]));
        return m;
    }
}
