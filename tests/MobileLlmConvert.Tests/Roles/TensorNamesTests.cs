using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert.Tests.Roles;

/// <summary>The one naming table in Formats: every role and block to a name and back, in every column.</summary>
public class TensorNamesTests
{
    public static TheoryData<string> Columns => new() { "huggingface", "gguf" };

    private static TensorNameColumn Column(string name) => name == "gguf" ? TensorNames.Gguf : TensorNames.HuggingFace;

    [Theory]
    [MemberData(nameof(Columns))]
    public void EveryRoleAndBlockRoundTrips(string columnName)
    {
        var column = Column(columnName);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var role in Enum.GetValues<TensorRole>())
        {
            int[] blocks = role.Info().PerStep ? [0, 1, 9, 10, 29, 123, 4095] : [-1];
            foreach (int block in blocks)
            {
                string name = column.Name(role, block);
                Assert.True(seen.Add(name), $"{name} names two roles");
                Assert.True(column.TryParse(name, out var parsed, out int parsedBlock), name);
                Assert.Equal((role, block), (parsed, parsedBlock));
            }
        }
    }

    [Fact]
    public void NamesAreTransformersAndLlamaCppOnes()
    {
        Assert.Equal("model.layers.3.self_attn.q_proj.weight", TensorNames.HuggingFace.Name(TensorRole.Q, 3));
        Assert.Equal("model.layers.0.post_attention_layernorm.weight", TensorNames.HuggingFace.Name(TensorRole.FfnNorm, 0));
        Assert.Equal("lm_head.weight", TensorNames.HuggingFace.Name(TensorRole.Output));
        Assert.Equal("model.embed_tokens.weight", TensorNames.HuggingFace.Name(TensorRole.TokenEmbedding));
        Assert.Equal("blk.12.attn_output.weight", TensorNames.Gguf.Name(TensorRole.O, 12));
        Assert.Equal("blk.0.ffn_down.weight", TensorNames.Gguf.Name(TensorRole.Down, 0));
        Assert.Equal("output_norm.weight", TensorNames.Gguf.Name(TensorRole.OutputNorm));
        Assert.Equal("token_embd.weight", TensorNames.Gguf.Name(TensorRole.TokenEmbedding));
    }

    [Theory]
    [InlineData("gguf", "blk.01.attn_q.weight")]
    [InlineData("gguf", "blk.-1.attn_q.weight")]
    [InlineData("gguf", "blk..attn_q.weight")]
    [InlineData("gguf", "blk.1234567.attn_q.weight")]
    [InlineData("gguf", "blk.1.attn_q.bias")]
    [InlineData("gguf", "blk.1.2.attn_q.weight")]
    [InlineData("gguf", "blk.1.attn_q.weight.weight")]
    [InlineData("gguf", "model.layers.1.self_attn.q_proj.weight")]
    [InlineData("huggingface", "model.layers.0.self_attn.rotary_emb.inv_freq")]
    [InlineData("huggingface", "model.layers.00.mlp.up_proj.weight")]
    [InlineData("huggingface", "model.layers.1e3.mlp.up_proj.weight")]
    [InlineData("huggingface", "blk.0.ffn_up.weight")]
    [InlineData("huggingface", "lm_head.bias")]
    public void NonCanonicalOrForeignNamesDoNotParse(string columnName, string name)
    {
        Assert.False(Column(columnName).TryParse(name, out _, out _));
    }

    [Fact]
    public void PerStepRolesNeedABlock()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorNames.Gguf.Name(TensorRole.Q));
        Assert.Equal("output.weight", TensorNames.Gguf.Name(TensorRole.Output, 5));
    }

    [Fact]
    public void EveryRoleHasExactlyOneRow()
    {
        Assert.Equal(Enum.GetValues<TensorRole>().Order(), TensorNames.Rows.Select(r => r.Role).Order());
    }

    /// <summary>Core's synthetic models take their names from the caller: the same seed gives the same bytes under any column.</summary>
    [Fact]
    public void SyntheticModelsAreNamedByTheCallersColumn()
    {
        var spec = SyntheticVariants.MobiLlamaSpec;
        using var hf = SyntheticModel.Create(spec, TensorNames.HuggingFace);
        using var gguf = SyntheticModel.Create(spec, TensorNames.Gguf);
        Assert.Equal("blk.0.ffn_gate.weight", gguf.Steps[2].Gate); // MobiLlama's one FFN, under block 0's name
        Assert.Equal("blk.2.attn_q.weight", gguf.Steps[2].Q);
        Assert.Equal("output.weight", gguf.Output);
        Assert.Equal(hf.Tensors.Count, gguf.Tensors.Count);
        foreach (var (a, b) in hf.Tensors.Zip(gguf.Tensors))
        {
            Assert.True(TensorNames.HuggingFace.TryParse(a.Name, out var role, out int block));
            Assert.Equal(TensorNames.Gguf.Name(role, block), b.Name);
            Assert.True(a.Source.Read().SequenceEqual(b.Source.Read()), a.Name);
        }
    }
}
