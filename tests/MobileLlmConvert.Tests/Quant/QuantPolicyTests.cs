using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Tests.Quant;

public class QuantPolicyTests
{
    [Theory]
    [InlineData("f32", null, QuantScheme.F32, 32)]
    [InlineData("f16", null, QuantScheme.F16, 32)]
    [InlineData("q8", null, QuantScheme.Q8, 32)]
    [InlineData("q4", 128, QuantScheme.Q4, 128)]
    [InlineData("q4a", 64, QuantScheme.Q4A, 64)]
    [InlineData("Q8_0", null, QuantScheme.Q8, 32)]
    [InlineData("q4_0", 32, QuantScheme.Q4, 32)]
    [InlineData("q4_1", null, QuantScheme.Q4A, 32)]
    [InlineData("q4_g64", null, QuantScheme.Q4, 64)]
    public void Parses_schemes_and_ggml_spellings(string name, int? group, QuantScheme scheme, int expectedGroup)
    {
        var p = QuantPolicy.Parse(name, group);
        Assert.Equal(scheme, p.Scheme);
        Assert.Equal(expectedGroup, p.GroupSize);
    }

    [Fact]
    public void Scheme_types_are_the_table_rows()
    {
        Assert.Equal(ElementType.Q8_0, QuantPolicy.TypeOf(QuantScheme.Q8, 32));
        Assert.Equal(ElementType.Q4_G128, QuantPolicy.TypeOf(QuantScheme.Q4, 128));
        Assert.Equal(ElementType.Q4_1_G64, QuantPolicy.TypeOf(QuantScheme.Q4A, 64));
        Assert.Equal(ElementType.F16, QuantPolicy.TypeOf(QuantScheme.F16, 128));
    }

    [Theory]
    [InlineData("q3_k", null, "--quant: unknown quantization scheme \"q3_k\": expected f32, f16, q8, q4, q4a, q5_0, q5_1, q4_k, q6_k (or q8_0, q4_0, q4_1), or a type such as q4_g64")]
    [InlineData("bf16", null, "--quant bf16: expected f32, f16, q8, q4, q4a, q5_0, q5_1, q4_k, q6_k (or q8_0, q4_0, q4_1)")]
    [InlineData("q5_0", 64, "--quant q5_0 means group 32, but --group-size is 64: q5_0 has only group 32")]
    [InlineData("q4_k", 128, "--quant q4_k means group 256, but --group-size is 128: q4_k has only group 256")]
    [InlineData("q4", 48, "--group-size 48 is not supported: expected 32, 64 or 128")]
    [InlineData("q8_0", 64, "--quant q8_0 means group 32, but --group-size is 64: use --quant q8 --group-size 64")]
    public void Bad_options_are_refused_with_a_clear_message(string name, int? group, string message)
    {
        var e = Assert.Throws<QuantPolicyException>(() => QuantPolicy.Parse(name, group));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Overrides_parse_and_the_last_match_wins()
    {
        var p = QuantPolicy.Parse("q4", 64, ["model.layers.*.mlp.down_proj.weight=q8", "model.layers.1?.mlp.*=q4_1", "lm_head.weight=f16"]);
        Assert.Equal(ElementType.Q8_G64, p.OverrideFor("model.layers.3.mlp.down_proj.weight")!.Target.Resolve(p.GroupSize));
        Assert.Equal(ElementType.Q4_1, p.OverrideFor("model.layers.12.mlp.down_proj.weight")!.Target.Resolve(p.GroupSize));
        Assert.Equal(ElementType.F16, p.OverrideFor("lm_head.weight")!.Target.Resolve(p.GroupSize));
        Assert.Null(p.OverrideFor("model.layers.3.mlp.up_proj.weight"));
        Assert.Null(p.OverrideFor("model.layers.1.mlp.up_proj.weight")); // "1?" needs two characters
        var e = Assert.Throws<QuantPolicyException>(() => QuantPolicy.Parse("q4", null, ["model.norm.weight"]));
        Assert.Equal("override \"model.norm.weight\": expected pattern=type, e.g. model.layers.*.mlp.down_proj.weight=q8", e.Message);
        var f = Assert.Throws<QuantPolicyException>(() => QuantPolicy.Parse("q4", null, ["x=q3"]));
        Assert.StartsWith("override \"x=q3\": unknown quantization scheme \"q3\"", f.Message);
    }

    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("model.layers.*.weight", "model.layers.3.self_attn.q_proj.weight", true)]
    [InlineData("model.layers.?.mlp.*", "model.layers.10.mlp.up_proj.weight", false)]
    [InlineData("", "", true)]
    [InlineData("**a", "ba", true)]
    public void Glob_matches_keys(string pattern, string key, bool matches) =>
        Assert.Equal(matches, new QuantOverride(pattern, QuantPolicy.ParseTarget("q8", "test")).Matches(key));
}
