using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert.Tests.Quant;

public class QuantizePassTests
{
    private static ModelIr Model(bool tied = false, int hidden = 64, int intermediate = 128, ModelFamily family = ModelFamily.MobileLLM, ElementType dtype = ElementType.F32) =>
        SyntheticModel.Create(new SyntheticSpec
        {
            Family = family, HiddenSize = hidden, IntermediateSize = intermediate, NumHeads = hidden / 16, NumKvHeads = hidden / 32,
            HeadDim = 16, Tied = tied, DType = dtype, StoredLayers = 2,
        }, TensorNames.HuggingFace);

    private static ModelIr Counting(ModelIr ir) =>
        ir with { Tensors = ir.Tensors.Select(t => new Tensor(t.Name, t.Shape, t.Type, new CountingSource(new MemorySource(t.Source.ToArray()), spannable: true))).ToList() };

    [Fact]
    public void Q4_defaults_keep_norms_f32_and_embedding_and_head_8_bit()
    {
        var (ir, report) = new QuantizePass(QuantPolicy.Parse("q4_0")).Run(Model(dtype: ElementType.BF16));
        Assert.Equal(ElementType.F32, ir["model.norm.weight"].Type);
        Assert.Equal(ElementType.F32, ir["model.layers.1.input_layernorm.weight"].Type);
        Assert.Equal(ElementType.Q8_0, ir["model.embed_tokens.weight"].Type);
        Assert.Equal(ElementType.Q8_0, ir["lm_head.weight"].Type);
        Assert.Equal(ElementType.Q4_0, ir["model.layers.0.mlp.down_proj.weight"].Type);
        Assert.Equal(ElementType.Q4_0, ir["model.layers.1.self_attn.k_proj.weight"].Type);
        Assert.True(report.Changed);
        Assert.Equal("stored tensors by type: f32 x5, q8_0 x2, q4_0 x14 (21 converted, 0 unchanged)", report.Notes[1]);
        Assert.Empty(report.Warnings);
        // Before: 115,008 bf16 values. After: embed + head 2 x 640 q8_0 blocks of 34 bytes, per layer
        // 1,152 q4_0 blocks of 18 bytes, five f32 norms of 64.
        Assert.Equal(230_016, report.StoredBytesBefore);
        Assert.Equal(2 * 640 * 34 + 2 * 1152 * 18 + 5 * 64 * 4, report.StoredBytesAfter);
        Assert.Equal(ir.StoredBytes, report.StoredBytesAfter);
        Assert.Equal("stored bytes: 230016 -> 86272", report.Notes[^1]);
    }

    [Fact]
    public void F16_scheme_converts_matrices_and_keeps_norms_f32()
    {
        var (ir, _) = new QuantizePass(QuantPolicy.Parse("f16")).Run(Model(tied: true));
        Assert.Equal(ElementType.F16, ir["model.embed_tokens.weight"].Type);
        Assert.Equal(ElementType.F16, ir["model.layers.0.self_attn.q_proj.weight"].Type);
        Assert.Equal(ElementType.F32, ir["model.layers.0.post_attention_layernorm.weight"].Type);
    }

    [Theory]
    [InlineData(QuantRounding.Search)]
    [InlineData(QuantRounding.Rtn)]
    public void Converted_bytes_are_the_quantized_source_values(QuantRounding rounding)
    {
        var src = Model(dtype: ElementType.BF16);
        var (ir, _) = new QuantizePass(QuantPolicy.Parse("q4", 64, rounding: rounding)).Run(src);
        var t = src["model.layers.0.mlp.up_proj.weight"];
        var expected = new byte[ir[t.Name].ByteLength];
        QuantOps.Quantize(ElementType.Q4_G64, FloatConvert.ToSingleArray(t), expected, rounding);
        Assert.Equal(expected, ir[t.Name].Source.ToArray());
        // The search writes different bytes from round-to-nearest (ggml's reference) on real data.
        var rtn = new byte[expected.Length];
        QuantOps.Quantize(ElementType.Q4_G64, FloatConvert.ToSingleArray(t), rtn);
        Assert.Equal(rounding == QuantRounding.Rtn, expected.AsSpan().SequenceEqual(rtn));
        // A norm read from bf16 widens exactly to f32.
        Assert.Equal(FloatConvert.ToSingleArray(src["model.norm.weight"]), FloatConvert.ToSingleArray(ir["model.norm.weight"]));
    }

    [Fact]
    public void A_width_that_is_not_a_multiple_of_128_falls_back_and_the_report_names_it()
    {
        // hidden 192 = 64 x 3: every matrix reading the hidden state gets group 64; down_proj (input 384) keeps 128.
        var (ir, report) = new QuantizePass(QuantPolicy.Parse("q4", 128)).Run(Model(tied: true, hidden: 192, intermediate: 384));
        Assert.Equal(ElementType.Q4_G64, ir["model.layers.0.self_attn.q_proj.weight"].Type);
        Assert.Equal(ElementType.Q4_G128, ir["model.layers.0.mlp.down_proj.weight"].Type);
        Assert.Equal(ElementType.Q8_G64, ir["model.embed_tokens.weight"].Type);
        Assert.Equal(
        [
            "fell back to q8_g64 instead of q8_g128 (input width 192 is not a multiple of q8_g128 group size 128): model.embed_tokens.weight",
            "fell back to q4_g64 instead of q4_g128 (input width 192 is not a multiple of q4_g128 group size 128): " +
            "model.layers.0.self_attn.q_proj.weight, model.layers.0.self_attn.k_proj.weight, model.layers.0.self_attn.v_proj.weight, " +
            "model.layers.0.self_attn.o_proj.weight, model.layers.0.mlp.gate_proj.weight, model.layers.0.mlp.up_proj.weight, " +
            "model.layers.1.self_attn.q_proj.weight, model.layers.1.self_attn.k_proj.weight, model.layers.1.self_attn.v_proj.weight, " +
            "model.layers.1.self_attn.o_proj.weight, model.layers.1.mlp.gate_proj.weight, model.layers.1.mlp.up_proj.weight",
        ], report.Warnings);
    }

    [Fact]
    public void A_width_no_group_divides_falls_back_to_f16()
    {
        var ir = Model();
        var odd = new Tensor("extra.odd.weight", [4, 48], ElementType.F32, new MemorySource(new byte[4 * 48 * 4]));
        ir = ir with { Tensors = [.. ir.Tensors, odd] };
        var (result, report) = new QuantizePass(QuantPolicy.Parse("q8")).Run(ir);
        Assert.Equal(ElementType.F16, result["extra.odd.weight"].Type);
        Assert.Equal("fell back to f16 instead of q8_0 (input width 48 is not a multiple of q8_0 group size 32): extra.odd.weight", Assert.Single(report.Warnings));
    }

    [Fact]
    public void Strict_refuses_with_the_tensor_and_width()
    {
        var policy = QuantPolicy.Parse("q4", 128, strict: true);
        var e = Assert.Throws<QuantPolicyException>(() => new QuantizePass(policy).Run(Model(hidden: 192, intermediate: 384)));
        Assert.Equal("tensor model.embed_tokens.weight: input width 192 is not a multiple of q8_g128 group size 128 (strict: no fallback; choose another --group-size or add an override for it)", e.Message);
    }

    [Fact]
    public void Overrides_change_single_tensors_but_never_quantize_a_norm()
    {
        var policy = QuantPolicy.Parse("q4", null, ["model.layers.*.mlp.down_proj.weight=q8", "model.embed_tokens.weight=q4", "*norm*=q8"]);
        var (ir, report) = new QuantizePass(policy).Run(Model());
        Assert.Equal(ElementType.Q8_0, ir["model.layers.1.mlp.down_proj.weight"].Type);
        Assert.Equal(ElementType.Q4_0, ir["model.embed_tokens.weight"].Type);
        Assert.Equal(ElementType.Q8_0, ir["lm_head.weight"].Type);
        Assert.Equal(ElementType.F32, ir["model.norm.weight"].Type);
        Assert.Equal("policy: q4 group 32, model.layers.*.mlp.down_proj.weight=q8, model.embed_tokens.weight=q4, *norm*=q8", report.Notes[0]);
        Assert.Contains("model.norm.weight: override *norm*=q8 ignored, a 1-D tensor (norm) stays f32", report.Warnings);
    }

    [Fact]
    public void The_pass_reads_no_tensor_bytes_and_each_result_reads_its_source_once()
    {
        var ir = Counting(Model());
        var (result, _) = new QuantizePass(QuantPolicy.Parse("q4")).Run(ir);
        Assert.All(ir.Tensors, t => Assert.Equal(0, ((CountingSource)t.Source).Reads));
        var down = "model.layers.0.mlp.down_proj.weight";
        result[down].Source.ToArray();
        Assert.Equal(1, ((CountingSource)ir[down].Source).Reads);
        Assert.Equal(0, ((CountingSource)ir["model.layers.1.mlp.down_proj.weight"].Source).Reads);
    }

    [Fact]
    public void A_shared_ffn_is_one_stored_tensor_quantized_once()
    {
        var ir = Counting(Model(family: ModelFamily.MobiLlama));
        var (result, report) = new QuantizePass(QuantPolicy.Parse("q8")).Run(ir);
        Assert.Single(result.Tensors, t => t.Name.EndsWith("mlp.gate_proj.weight", StringComparison.Ordinal));
        Assert.All(result.Steps, s => Assert.Equal("model.layers.0.mlp.gate_proj.weight", s.Gate));
        foreach (var t in result.Tensors) t.Source.ToArray();
        Assert.All(ir.Tensors, t => Assert.Equal(1, ((CountingSource)t.Source).Reads));
        // 18 stored tensors (the FFN once): the 5 f32 norms are already f32 and stay the same objects.
        Assert.Equal("stored tensors by type: f32 x5, q8_0 x13 (13 converted, 5 unchanged)", report.Notes[1]);
    }

    [Fact]
    public void Running_twice_changes_nothing_the_second_time()
    {
        var policy = QuantPolicy.Parse("q4", 128);
        var pass = new QuantizePass(policy);
        var (once, _) = pass.Run(Model(hidden: 192, intermediate: 384));
        var (twice, report) = pass.Run(once);
        Assert.False(report.Changed);
        Assert.Same(once, twice);
        for (int i = 0; i < once.Tensors.Count; i++) Assert.Same(once.Tensors[i], twice.Tensors[i]);
        Assert.Equal(report.StoredBytesBefore, report.StoredBytesAfter);
        // The fallbacks are still reported: the tensors are g64 because of their width, not by accident.
        Assert.Equal(2, report.Warnings.Count);
    }

    [Fact]
    public void Already_quantized_tensors_are_kept_rather_than_requantized()
    {
        var (q8, _) = new QuantizePass(QuantPolicy.Parse("q8")).Run(Model());
        var (q4, report) = new QuantizePass(QuantPolicy.Parse("q4")).Run(q8);
        Assert.Equal(ElementType.Q8_0, q4["model.layers.0.mlp.up_proj.weight"].Type);
        Assert.Contains("model.layers.0.mlp.up_proj.weight: already q8_0, kept (re-quantizing to q4_0 would compound the error)", report.Warnings);
        // To a float type it dequantizes (exactly: q·d is representable in f32).
        var (f32, _) = new QuantizePass(QuantPolicy.Parse("f32")).Run(q8);
        var back = FloatConvert.ToSingleArray(f32["model.layers.0.mlp.up_proj.weight"]);
        var expected = new float[back.Length];
        QuantOps.Dequantize(ElementType.Q8_0, q8["model.layers.0.mlp.up_proj.weight"].Source.ToArray(), expected);
        Assert.Equal(expected, back);
    }

    [Fact]
    public void A_non_finite_weight_is_refused_when_read()
    {
        var ir = Model();
        var t = ir["model.layers.0.mlp.up_proj.weight"];
        var bytes = t.Source.ToArray();
        BitConverter.TryWriteBytes(bytes.AsSpan(4 * (64 + 3)), float.NaN);
        ir = ir with { Tensors = ir.Tensors.Select(x => x.Name == t.Name ? new Tensor(t.Name, t.Shape, t.Type, new MemorySource(bytes)) : x).ToList() };
        var (result, _) = new QuantizePass(QuantPolicy.Parse("q8")).Run(ir);
        var e = Assert.Throws<InvalidDataException>(() => result[t.Name].Source.ToArray());
        Assert.Equal("tensor model.layers.0.mlp.up_proj.weight: row 1 column 3 holds NaN; refusing to quantize a non-finite value to q8_0", e.Message);
    }
}
