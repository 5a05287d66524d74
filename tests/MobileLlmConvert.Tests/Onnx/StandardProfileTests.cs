using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.Formats.Onnx.Standard;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>
/// The standard profile run by ONNX Runtime (Microsoft.ML.OnnxRuntime): its logits agree with our naive
/// executor on the same IR for every family, head size and storable type; decode through present -> past
/// equals one full pass; the graph uses ai.onnx operators only.
/// </summary>
public class StandardProfileTests
{
    private static readonly int[] Tokens = [1, 5, 17, 100, 250, 3, 42];

    /// <summary>Relative logit error allowed for f32 weights (the source model itself).</summary>
    private const double F32Tolerance = 1e-4;
    /// <summary>Relative logit error allowed for quantized weights, against our executor on the same quantized IR.</summary>
    private const double QuantTolerance = 1e-3;

    private static readonly string[] Families = ["mobilellm", "mobilellm-ls", "mobillama", "llama-gqa-untied", "llama-mha-tied"];

    internal static ModelIr Model(string family, int headDim, string quant)
    {
        var spec = new SyntheticSpec
        {
            Family = ModelFamily.Llama, HiddenSize = 128, IntermediateSize = 256, NumHeads = 4, NumKvHeads = 2,
            HeadDim = headDim, StoredLayers = 2, Seed = (ulong)(headDim * 31 + family.Length),
        };
        spec = family switch
        {
            "mobilellm" => spec with { Family = ModelFamily.MobileLLM, Tied = true },
            "mobilellm-ls" => spec with { Family = ModelFamily.MobileLLM, Tied = true, LayerSharing = true },
            "mobillama" => spec with { Family = ModelFamily.MobiLlama, NumKvHeads = 4, StoredLayers = 3 },
            "llama-gqa-untied" => spec,
            "llama-mha-tied" => spec with { NumKvHeads = 4, Tied = true },
            _ => throw new ArgumentException(family),
        };
        var ir = SyntheticModel.Create(spec, TensorNames.HuggingFace);
        if (quant == "f32") return ir;
        var parts = quant.Split('@');
        var policy = QuantPolicy.Parse(parts[0], parts.Length > 1 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : null);
        return new QuantizePass(policy).Run(ir).Ir;
    }

    public static TheoryData<string, int, string> Cases()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var family in Families)
        {
            foreach (int hd in new[] { 8, 16, 32 })
            {
                data.Add(family, hd, "f32");
                data.Add(family, hd, "q4");
            }
        }
        foreach (var quant in new[] { "f16", "q8", "q8@64", "q4a", "q4@64", "q4@128", "q4a@64", "q4a@128" })
        {
            data.Add("llama-gqa-untied", 16, quant);
            data.Add("mobilellm-ls", 8, quant);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Ort_logits_agree_with_our_executor(string family, int headDim, string quant)
    {
        using var ir = Model(family, headDim, quant);
        using var session = StandardHarness.Session(StandardHarness.Build(ir));
        var ort = StandardHarness.Run(session, ir, Tokens).Logits;
        var ours = NaiveTransformer.Logits(ir, Tokens);
        double tolerance = quant == "f32" ? F32Tolerance : QuantTolerance;
        for (int t = 0; t < Tokens.Length; t++)
        {
            double err = StandardHarness.RelativeError(ort[t], ours[t]);
            Assert.True(err <= tolerance, $"{family} hd{headDim} {quant}: position {t} relative error {err:e2} > {tolerance:e0}");
        }
    }

    [Theory]
    [InlineData("mobilellm-ls", 8, "q4")]
    [InlineData("llama-gqa-untied", 16, "f32")]
    [InlineData("mobillama", 32, "q4a")]
    public void Prefill_then_single_token_decode_equals_one_full_pass(string family, int headDim, string quant)
    {
        using var ir = Model(family, headDim, quant);
        using var session = StandardHarness.Session(StandardHarness.Build(ir));
        var full = StandardHarness.Run(session, ir, Tokens);
        var prefill = StandardHarness.Run(session, ir, Tokens[..^2]);
        var step1 = StandardHarness.Run(session, ir, Tokens[^2..^1], prefill.Present);
        var step2 = StandardHarness.Run(session, ir, Tokens[^1..], step1.Present);
        // One present pair per executed step (an LS model has twice its stored blocks), grown by one position.
        Assert.Equal(2 * ir.Steps.Count, step2.Present.Count);
        Assert.All(step2.Present, p => Assert.Equal([1, ir.Config.NumKvHeads, Tokens.Length, ir.Config.HeadDim], p.Dims));
        Assert.True(StandardHarness.RelativeError(step1.Logits[0], full.Logits[^2]) <= 1e-5);
        Assert.True(StandardHarness.RelativeError(step2.Logits[0], full.Logits[^1]) <= 1e-5);
        for (int i = 0; i < full.Present.Count; i++) Assert.True(StandardHarness.RelativeError(step2.Present[i].Data, full.Present[i].Data) <= 1e-5);
    }

    [Fact]
    public void Graph_uses_ai_onnx_operators_only()
    {
        foreach (var quant in new[] { "f32", "f16", "q8", "q4", "q4a" })
        {
            using var ir = Model("mobilellm-ls", 16, quant);
            var g = OnnxGraph.Build(ir, StandardProfile.Instance);
            Assert.Equal([OnnxGraphBuilder.StandardDomain], g.Domains);
            Assert.All(g.Nodes, n => Assert.Equal("", n.Domain));
            Assert.DoesNotContain(g.Nodes, n => n.OpType is "MatMulNBits" or "GroupQueryAttention" or "SimplifiedLayerNormalization" or "SkipSimplifiedLayerNormalization" or "RotaryEmbedding");
        }
    }

    [Fact]
    public void Shared_tensors_are_one_initializer_each()
    {
        using var ls = Model("mobilellm-ls", 16, "q4");
        var g = OnnxGraph.Build(ls, StandardProfile.Instance);
        // One weight per stored tensor: the LS repeats, the tied head and every block reuse it.
        Assert.Equal(ls.Tensors.Count, g.Weights.Count);
        Assert.Equal(ls.Tensors.Select(t => t.Name).Order(), g.Weights.Keys.Order());
        Assert.Single(g.Initializers, i => i.Name == "model.embed_tokens.weight");
        Assert.DoesNotContain(g.Initializers, i => i.Name.StartsWith("lm_head", StringComparison.Ordinal));
        // Two executed steps read each stored q projection: one DequantizeLinear per use, of one initializer.
        Assert.Equal(2, g.Nodes.Count(n => n.OpType == "DequantizeLinear" && n.Input[0] == "model.layers.0.attn.q_proj.MatMul.weight"));

        using var mobillama = Model("mobillama", 16, "f32");
        var m = OnnxGraph.Build(mobillama, StandardProfile.Instance);
        Assert.Single(m.Initializers, i => i.Name.Contains("mlp.gate_proj", StringComparison.Ordinal));
        Assert.Equal(3, m.Nodes.Count(n => n.OpType == "MatMul" && n.Input.Contains(m.Initializers.Single(i => i.Name.Contains("mlp.gate_proj", StringComparison.Ordinal)).Name)));
    }
}
