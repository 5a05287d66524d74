using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Formats.Gguf;

namespace MobileLlmConvert.Tests.Gguf;

/// <summary>Write a synthetic model of each family as GGUF, read it back, and compare with the source IR.</summary>
public class GgufRoundTripTests
{
    [Theory]
    [MemberData(nameof(GgufTestModels.FamilyNames), MemberType = typeof(GgufTestModels))]
    public void F32RoundTripRebuildsTheSameDeduplicatedIr(string family)
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create(family);
        var path = dir.File("m.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        using var bag = new ResourceBag();
        var back = GgufFile.Read(path, bag);

        Assert.Equal(ir.Config, back.Config);
        Assert.Equal(ir.Steps, back.Steps);
        Assert.Equal((ir.Embedding, ir.FinalNorm, ir.Output), (back.Embedding, back.FinalNorm, back.Output));
        Assert.Equal(ir.Tensors.Select(t => t.Name), back.Tensors.Select(t => t.Name));
        foreach (var t in ir.Tensors)
        {
            var b = back[t.Name];
            Assert.Equal(t.Shape, b.Shape);
            Assert.Equal(ElementType.F32, b.Type);
            // Sources in BF16/F16 widen exactly to f32, so the comparison is exact for every family.
            Assert.Equal(FloatConvert.ToSingleArray(t), FloatConvert.ToSingleArray(b));
        }
        Assert.Equal(ir.StoredParameters, back.StoredParameters);
        AssertSameTokenizer(ir.Tokenizer!, back.Tokenizer!);
    }

    /// <summary>
    /// Dedup merges byte-identical tensors whatever role they serve: here every block's FFN norm is its
    /// attention norm (as an untrained checkpoint's all-ones norms dedup to). The GGUF records both
    /// names under one key and reading it back must give the same IR, not refuse the sharing record.
    /// </summary>
    [Fact]
    public void ATensorSharedAcrossRolesReadsBack()
    {
        using var dir = GgufTestModels.TempDir();
        using var source = GgufTestModels.Create("llama-gqa-untied");
        var steps = source.Steps.Select(s => s with { FfnNorm = s.AttnNorm }).ToList();
        var used = new HashSet<string>(steps.SelectMany(s => s.Keys).Append(source.Embedding).Append(source.FinalNorm).Append(source.Output));
        var ir = GgufTestModels.WithTensors(source, source.Tensors.Where(t => used.Contains(t.Name)).ToList()) with { Steps = steps };
        var path = dir.File("shared-roles.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        using var bag = new ResourceBag();
        var back = GgufFile.Read(path, bag);
        Assert.Equal(ir.Steps, back.Steps);
        Assert.Equal(ir.Tensors.Select(t => t.Name), back.Tensors.Select(t => t.Name));
    }

    [Theory]
    [MemberData(nameof(GgufTestModels.FamilyNames), MemberType = typeof(GgufTestModels))]
    public void F16MatricesAreTheF16RoundingOfTheSourceAndNormsStayF32(string family)
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create(family);
        var path = dir.File("m16.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F16 });
        using var bag = new ResourceBag();
        var back = GgufFile.Read(path, bag);

        Assert.Equal(ir.Config, back.Config);
        Assert.Equal(ir.Steps, back.Steps);
        foreach (var t in ir.Tensors)
        {
            var b = back[t.Name];
            var source = FloatConvert.ToSingleArray(t);
            if (t.Shape.Length == 1)
            {
                Assert.Equal(ElementType.F32, b.Type);
                Assert.Equal(source, FloatConvert.ToSingleArray(b));
            }
            else
            {
                Assert.Equal(ElementType.F16, b.Type);
                var expected = source.Select(v => (float)(Half)v).ToArray();
                Assert.Equal(expected, FloatConvert.ToSingleArray(b));
            }
        }
        var md = GgufFile.ReadMetadata(path);
        Assert.Equal(1u, md.Get(GgufKeys.FileType)!.Value);
    }

    [Theory]
    [InlineData(ElementType.Q8_0, 7u)]
    [InlineData(ElementType.Q4_0, 2u)]
    [InlineData(ElementType.Q4_1, 3u)]
    public void QuantizedTensorsRoundTripByteExact(ElementType type, uint fileType)
    {
        using var dir = GgufTestModels.TempDir();
        using var source = GgufTestModels.Create("mobilellm-ls");
        var ir = GgufTestModels.Quantized(source, type);
        var path = dir.File("q.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        using var bag = new ResourceBag();
        var back = GgufFile.Read(path, bag);

        Assert.Equal(ir.Steps, back.Steps);
        foreach (var t in ir.Tensors)
        {
            var b = back[t.Name];
            if (t.Shape.Length == 1)
            {
                // The source's f16 norms are written as f32, as llama.cpp's converter writes norms.
                Assert.Equal(ElementType.F32, b.Type);
                Assert.Equal(FloatConvert.ToSingleArray(t), FloatConvert.ToSingleArray(b));
                continue;
            }
            Assert.Equal(t.Type, b.Type);
            // Q and K rows went through the permutation and back: whole blocks per row, so bytes survive.
            Assert.True(t.Source.Read().SequenceEqual(b.Source.Read()), $"{t.Name} bytes differ");
        }
        Assert.Equal(fileType, GgufFile.ReadMetadata(path).Get(GgufKeys.FileType)!.Value);
    }

    [Fact]
    public void SharedTensorsAreWrittenPerStepAndRecorded()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("mobilellm-ls");
        var path = dir.File("ls.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        var md = GgufFile.ReadMetadata(path);

        // 2 stored blocks executed as 4 steps: 4 blk.N groups of 9, token_embd, output_norm, no output (tied).
        Assert.Equal(4u, md.Get(GgufKeys.BlockCount)!.Value);
        Assert.Equal(4 * 9 + 2, md.Tensors.Count);
        Assert.False(md.TryGetTensor("output.weight", out _));
        var names = (string[])((GgufArray)md.Get(GgufKeys.OurTensorNames)!.Value).Items;
        var keys = (string[])((GgufArray)md.Get(GgufKeys.OurTensorKeys)!.Value).Items;
        Assert.Equal("model.layers.0.self_attn.q_proj.weight", keys[Array.IndexOf(names, "blk.1.attn_q.weight")]);
        Assert.Equal("model.layers.1.mlp.down_proj.weight", keys[Array.IndexOf(names, "blk.3.ffn_down.weight")]);
        Assert.Equal(2u, md.Get(GgufKeys.OurStoredLayers)!.Value);
        Assert.Equal("share_embedding", md.Get(GgufKeys.OurTieClaimFlag)!.Value);
        Assert.Equal("MobileLLMForCausalLM", md.Get(GgufKeys.OurArchitecture)!.Value);

        using var bag = new ResourceBag();
        var back = GgufFile.Read(path, bag);
        Assert.Equal(ir.Tensors.Count, back.Tensors.Count);
        Assert.Equal(back.Steps[0].Q, back.Steps[1].Q);
        Assert.Equal("model.layers.1.mlp.up_proj.weight", back.Steps[3].Up);
    }

    [Fact]
    public void MobiLlamaSharedFfnIsOneStoredTensor()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("mobillama");
        var path = dir.File("mb.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        using var bag = new ResourceBag();
        var back = GgufFile.Read(path, bag);
        Assert.All(back.Steps, s => Assert.Equal("model.layers.0.mlp.gate_proj.weight", s.Gate));
        Assert.Single(back.Tensors, t => t.Name.EndsWith("gate_proj.weight", StringComparison.Ordinal));
        Assert.Equal(3, GgufFile.ReadMetadata(path).Tensors.Count(t => t.Name.EndsWith("ffn_gate.weight", StringComparison.Ordinal)));
    }

    private static void AssertSameTokenizer(TokenizerIr a, TokenizerIr b)
    {
        Assert.Equal(a.Pieces, b.Pieces);
        Assert.Equal(a.Scores, b.Scores);
        Assert.Equal(a.Types, b.Types);
        Assert.Equal((a.UnkId, a.BosId, a.EosId, a.PadId, a.AddBos, a.AddEos), (b.UnkId, b.BosId, b.EosId, b.PadId, b.AddBos, b.AddEos));
        // GGUF stores the vocabulary only; the reader rebuilds a ModelProto holding exactly those pieces.
        Assert.Equal(a.Pieces, Formats.SentencePiece.SentencePieceModelFile.Read(b.SentencePieceModel!, "(rebuilt)", null).Pieces);
    }
}
