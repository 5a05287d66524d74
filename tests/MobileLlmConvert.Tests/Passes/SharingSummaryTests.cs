using System.Text.Json;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert.Tests.Passes;

public class SharingSummaryTests
{
    [Fact]
    public void LayerSharedStepsShareWholeBlocks()
    {
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.MobileLLM, Tied = true, LayerSharing = true, Seed = 51 }, TensorNames.HuggingFace);
        var s = SharingSummary.Of(ir);
        // Block: 2 norms of 64, q and o 64x64, k and v 32x64, gate/up/down 128x64.
        Assert.Equal(["steps 0,1 share model.layers.0.* (block, 9 tensors, 36,992 parameters)", "steps 2,3 share model.layers.1.* (block, 9 tensors, 36,992 parameters)"],
            s.Shared.Select(g => g.Text));
        Assert.Equal(["embedding", "output"], s.Tensors.Single(t => t.Key == "model.embed_tokens.weight").Roles);
        Assert.Equal([0, 1], s.Tensors.Single(t => t.Key == "model.layers.0.self_attn.q_proj.weight").Steps);
        Assert.Equal(["stored: 20 tensors, 94,528 parameters, 378,112 bytes", "executed: 4 layer steps, 188,992 parameters per token",
            "head: tied to the embedding", "kv heads: 2, f32 KV cache 1,024 bytes per token",
            "steps 0,1 share model.layers.0.* (block, 9 tensors, 36,992 parameters)", "steps 2,3 share model.layers.1.* (block, 9 tensors, 36,992 parameters)"],
            s.ToTextLines());
    }

    [Fact]
    public void MobiLlamaFfnIsSharedByEveryStepAfterDedup()
    {
        var ir = SharingPipeline.Run(SyntheticVariants.MobiLlamaWithFfnCopies(TensorNames.HuggingFace)).Ir;
        var g = Assert.Single(SharingSummary.Of(ir).Shared);
        Assert.Equal("steps 0..2 share model.layers.0.mlp.gate_proj.weight, model.layers.0.mlp.up_proj.weight, model.layers.0.mlp.down_proj.weight (ffn, 3 tensors, 24,576 parameters)", g.Text);
        Assert.Equal("ffn", g.What);
        // Before the passes the copies are separate tensors: nothing is shared.
        Assert.Empty(SharingSummary.Of(SyntheticVariants.MobiLlamaWithFfnCopies(TensorNames.HuggingFace)).Shared);
    }

    [Fact]
    public void PlainModelSaysNothingIsShared()
    {
        var s = SharingSummary.Of(SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, Seed = 52 }, TensorNames.HuggingFace));
        Assert.Equal("no stored tensor is used by more than one step", s.ToTextLines().Last());
        Assert.Equal("head: stored separately", s.ToTextLines().ElementAt(2));
    }

    [Fact]
    public void SerializesToJsonAsIs()
    {
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.MobileLLM, Tied = true, LayerSharing = true, Seed = 53 }, TensorNames.HuggingFace);
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(SharingSummary.Of(ir)));
        var root = doc.RootElement;
        Assert.Equal(4, root.GetProperty("ExecutedSteps").GetInt32());
        Assert.Equal(ir.StoredParameters, root.GetProperty("StoredParameters").GetInt64());
        var first = root.GetProperty("Shared")[0];
        Assert.Equal([0, 1], first.GetProperty("Steps").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("model.layers.0.*", first.GetProperty("KeysText").GetString());
        Assert.Equal("block", first.GetProperty("What").GetString());
        Assert.StartsWith("steps 0,1 share", first.GetProperty("Text").GetString());
    }
}

public class NamePatternsTests
{
    [Theory]
    [InlineData(new[] { 0 }, "0")]
    [InlineData(new[] { 0, 1 }, "0,1")]
    [InlineData(new[] { 0, 1, 2 }, "0..2")]
    [InlineData(new[] { 5, 0, 2, 3, 4, 4 }, "0,2..5")]
    [InlineData(new[] { 1, 3, 5 }, "1,3,5")]
    public void Ranges(int[] values, string expected) => Assert.Equal(expected, NamePatterns.Ranges(values));

    [Fact]
    public void CompressFoldsLayerIndicesAndKeepsOtherNames()
    {
        Assert.Equal(["model.layers.{1..3,7}.mlp.up_proj.weight", "lm_head.weight", "model.layers.2.mlp.down_proj.weight"],
            NamePatterns.Compress(["model.layers.1.mlp.up_proj.weight", "lm_head.weight", "model.layers.2.mlp.up_proj.weight",
                "model.layers.3.mlp.up_proj.weight", "model.layers.2.mlp.down_proj.weight", "model.layers.7.mlp.up_proj.weight"]));
    }
}
