using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using static MobileLlmConvert.Tests.Passes.PassTestKit;

namespace MobileLlmConvert.Tests.Passes;

public class TieEmbeddingsTests
{
    [Fact]
    public void StoredHeadEqualToEmbeddingIsDroppedAndTied()
    {
        var ir = SyntheticVariants.MobileLlmWithStoredHead(TensorNames.HuggingFace);
        var r = new TieEmbeddings().Run(ir);

        Assert.True(r.Report.Changed);
        Assert.Equal("model.embed_tokens.weight", r.Ir.Output);
        Assert.False(r.Ir.TryGetTensor("lm_head.weight", out _));
        Assert.Equal(ir.Tensors.Count - 1, r.Ir.Tensors.Count);
        Assert.Equal(UniqueWeights(SyntheticVariants.MobileLlmSpec), r.Ir.StoredParameters);
        Assert.Equal(ir.StoredParameters - 320 * 64, r.Report.StoredParametersAfter);
        Assert.Equal(ir.StoredBytes - 320 * 64 * 4, r.Report.StoredBytesAfter);
        Assert.Equal(["lm_head.weight is byte-identical to model.embed_tokens.weight: tied the head to the embedding and dropped lm_head.weight (20,480 parameters, 81,920 bytes)"], r.Report.Notes);
        Assert.Empty(r.Report.Warnings);
        AssertSameExecution(ir, r.Ir);
    }

    [Fact]
    public void AbsentHeadStaysTied()
    {
        var ir = SyntheticModel.Create(SyntheticVariants.MobileLlmSpec, TensorNames.HuggingFace);
        var r = new TieEmbeddings().Run(ir);
        Assert.False(r.Report.Changed);
        Assert.Same(ir, r.Ir);
        Assert.Equal(["head already tied: no separate output head is stored, logits use model.embed_tokens.weight (config share_embedding: true)"], r.Report.Notes);
    }

    [Fact]
    public void DifferentHeadIsNeverTiedEvenWhenTheFlagClaimsIt()
    {
        var ir = SyntheticVariants.UntiedClaimingTie(TensorNames.HuggingFace);
        var r = new TieEmbeddings().Run(ir);

        Assert.False(r.Report.Changed);
        Assert.Same(ir, r.Ir);
        Assert.Equal("lm_head.weight", r.Ir.Output);
        long at = FirstDifference(Bytes(ir, "model.embed_tokens.weight"), Bytes(ir, "lm_head.weight"));
        Assert.Equal([$"config flag tie_word_embeddings claims a tied head, but lm_head.weight differs from model.embed_tokens.weight (first differing byte at offset {at}): kept untied, the flag is ignored"], r.Report.Warnings);
    }

    [Fact]
    public void HeadDifferingInOneLastByteStaysUntiedWithoutAFlagAndWithoutAWarning()
    {
        var ir = SyntheticVariants.MobileLlmWithStoredHead(TensorNames.HuggingFace);
        var head = Bytes(ir, "lm_head.weight");
        head[^1] ^= 1;
        ir = ir with
        {
            Tensors = ir.Tensors.Select(t => t.Name == "lm_head.weight" ? new Tensor(t.Name, t.Shape, t.Type, new MemorySource(head)) : t).ToList(),
            Config = ir.Config with { TieClaimFlag = null },
        };
        var r = new TieEmbeddings().Run(ir);
        Assert.Equal("lm_head.weight", r.Ir.Output);
        Assert.Empty(r.Report.Warnings);
        Assert.Equal([$"head untied: lm_head.weight differs from model.embed_tokens.weight (first differing byte at offset {head.Length - 1})"], r.Report.Notes);
        // Dedup, which would also tie equal tensors, must not merge them either.
        Assert.Equal("lm_head.weight", new DedupSharedTensors().Run(ir).Ir.Output);
    }

    [Fact]
    public void HeadOfAnotherElementTypeIsNotTied()
    {
        var ir = SyntheticVariants.MobileLlmWithStoredHead(TensorNames.HuggingFace);
        var emb = ir[ir.Embedding];
        var f32 = Core.Numerics.FloatConvert.ToSingleArray(emb);
        var bf16 = new byte[f32.Length * 2];
        Core.Numerics.FloatConvert.FromSingle(f32, ElementType.BF16, bf16);
        ir = ir with { Tensors = ir.Tensors.Select(t => t.Name == "lm_head.weight" ? new Tensor(t.Name, t.Shape, ElementType.BF16, new MemorySource(bf16)) : t).ToList() };
        var r = new TieEmbeddings().Run(ir);
        Assert.Equal("lm_head.weight", r.Ir.Output);
        Assert.Equal(["config flag share_embedding claims a tied head, but lm_head.weight differs from model.embed_tokens.weight (element type bf16 vs f32): kept untied, the flag is ignored"], r.Report.Warnings);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ReadsEmbeddingAndHeadOnceAndNothingElse(bool spannable)
    {
        var (ir, counters) = Counting(SyntheticVariants.MobileLlmWithStoredHead(TensorNames.HuggingFace), spannable);
        new TieEmbeddings().Run(ir);
        Assert.Equal(1, counters["model.embed_tokens.weight"].Reads);
        Assert.Equal(1, counters["lm_head.weight"].Reads);
        Assert.Equal(2, counters.Values.Sum(c => c.Reads));
    }

    private static long FirstDifference(byte[] a, byte[] b) => a.AsSpan().CommonPrefixLength(b);
}
