using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using static MobileLlmConvert.Tests.Passes.PassTestKit;

namespace MobileLlmConvert.Tests.Passes;

public class FoldGqaTests
{
    [Fact]
    public void MhaMadeByRepeatKvFoldsBackToTheGqaModel()
    {
        var gqa = SyntheticModel.Create(SyntheticVariants.GqaLlamaSpec, TensorNames.HuggingFace);
        var mha = SyntheticVariants.MhaFromGqa(TensorNames.HuggingFace);
        Assert.Equal(4, mha.Config.NumKvHeads);

        var r = new FoldGqa().Run(mha);

        Assert.Equal(2, r.Ir.Config.NumKvHeads);
        Assert.Equal(UniqueWeights(SyntheticVariants.GqaLlamaSpec), r.Ir.StoredParameters);
        Assert.Equal(gqa.StoredParameters, r.Ir.StoredParameters);
        foreach (var t in gqa.Tensors) Assert.Equal(Bytes(gqa, t.Name), Bytes(r.Ir, t.Name));
        // 2 x 2 steps x n_kv x 16 x 4 bytes.
        Assert.Equal(["K/V heads repeat in consecutive groups of 2 in all 2 steps (as repeat_kv writes them): folded n_kv 4 -> 2; f32 KV cache per token 1,024 -> 512 bytes"], r.Report.Notes);
        Assert.Equal(512, KvCacheSize.BytesPerToken(r.Ir.Config));
        AssertSameExecution(mha, r.Ir);
    }

    [Fact]
    public void FoldThenUnfoldGivesTheSameBytes()
    {
        var mha = SyntheticVariants.MhaFromGqa(TensorNames.HuggingFace);
        var folded = new FoldGqa().Run(mha).Ir;
        var u = new UnfoldGqa().Run(folded);
        Assert.Equal(4, u.Ir.Config.NumKvHeads);
        foreach (var t in mha.Tensors) Assert.Equal(Bytes(mha, t.Name), Bytes(u.Ir, t.Name));
        Assert.Equal(["expanded n_kv 2 -> 4 (each kv head repeated 2 times); f32 KV cache per token 512 -> 1,024 bytes"], u.Report.Notes);
        AssertSameExecution(folded, u.Ir);
    }

    [Fact]
    public void UnfoldThenFoldGivesTheSameBytes()
    {
        var gqa = SyntheticModel.Create(SyntheticVariants.GqaLlamaSpec with { DType = ElementType.BF16 }, TensorNames.HuggingFace);
        var unfolded = new UnfoldGqa().Run(gqa).Ir;
        AssertSameExecution(gqa, unfolded);
        var back = new FoldGqa().Run(unfolded).Ir;
        Assert.Equal(gqa.Config, back.Config);
        foreach (var t in gqa.Tensors) Assert.Equal(Bytes(gqa, t.Name), Bytes(back, t.Name));
    }

    [Fact]
    public void FoldsToTheSmallestKvCountThatWorksInEveryStep()
    {
        // MHA with 8 heads: step 0 repeats in groups of 4, step 1 only in groups of 2 -> n_kv 4.
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, HiddenSize = 64, NumHeads = 8, NumKvHeads = 8, Seed = 11 }, TensorNames.HuggingFace);
        ir = WithHeads(ir, 0, [0, 0, 0, 0, 4, 4, 4, 4]);
        ir = WithHeads(ir, 1, [0, 0, 2, 2, 4, 4, 6, 6]);
        var r = new FoldGqa().Run(ir);
        Assert.Equal(4, r.Ir.Config.NumKvHeads);
        Assert.Equal([32L, 64L], r.Ir["model.layers.0.self_attn.k_proj.weight"].Shape);
        AssertSameExecution(ir, r.Ir);
    }

    [Fact]
    public void EqualHeadsOutsideRepeatKvOrderAreNotFolded()
    {
        // Heads 0,1,0,1: equal pairs exist, but query head h = 1 would read the wrong head after a fold.
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, Seed = 12, NumHeads = 4, NumKvHeads = 4 }, TensorNames.HuggingFace);
        ir = WithHeads(ir, 0, [0, 1, 0, 1]);
        ir = WithHeads(ir, 1, [0, 1, 0, 1]);
        var r = new FoldGqa().Run(ir);
        Assert.Same(ir, r.Ir);
        Assert.Equal(["no K/V heads repeat in every step: n_kv stays 4"], r.Report.Notes);
    }

    [Fact]
    public void RepeatInKOnlyIsNotFolded()
    {
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, Seed = 13, NumHeads = 4, NumKvHeads = 4, StoredLayers = 1 }, TensorNames.HuggingFace);
        ir = WithHeads(ir, 0, [0, 0, 2, 2], vToo: false);
        Assert.Equal(4, new FoldGqa().Run(ir).Ir.Config.NumKvHeads);
    }

    [Fact]
    public void MobiLlamaWithDistinctHeadsStaysMha()
    {
        var ir = SyntheticVariants.MobiLlamaWithFfnCopies(TensorNames.HuggingFace);
        var r = new FoldGqa().Run(ir);
        Assert.Same(ir, r.Ir);
        Assert.Equal(["no K/V heads repeat in every step: n_kv stays 4"], r.Report.Notes);
    }

    [Fact]
    public void KeyUsedAsKAndAsQIsLeftAloneWithAWarning()
    {
        var ir = SyntheticVariants.MhaFromGqa(TensorNames.HuggingFace);
        var s0 = ir.Steps[0];
        ir = ir with { Steps = [s0 with { Q = s0.K }, ir.Steps[1]] };
        var r = new FoldGqa().Run(ir);
        Assert.Same(ir, r.Ir);
        Assert.Equal(["model.layers.0.self_attn.k_proj.weight is used as K or V and in another role: K/V heads not folded"], r.Report.Warnings);

        // With an FFN width equal to the K/V width (32), a gate may legally name a V tensor; unfolding would reshape the gate.
        var g = SyntheticModel.Create(SyntheticVariants.GqaLlamaSpec with { IntermediateSize = 32 }, TensorNames.HuggingFace);
        g = g with { Steps = [g.Steps[0] with { Gate = g.Steps[0].V }, g.Steps[1]] };
        var e = Assert.Throws<InvalidOperationException>(() => new UnfoldGqa().Run(g));
        Assert.Equal("UnfoldGqa: model.layers.0.self_attn.v_proj.weight is used as K or V and in another role; its heads cannot be expanded", e.Message);
    }

    [Fact]
    public void ConfigThatDisagreesWithKvShapesIsRejectedBeforeAnySlicing()
    {
        var ir = SyntheticVariants.MhaFromGqa(TensorNames.HuggingFace);
        ir = ir with { Config = ir.Config with { NumKvHeads = 2 } };
        var e = Assert.Throws<Core.Errors.IrException>(() => new FoldGqa().Run(ir));
        Assert.Equal("(ir): model.layers.0.self_attn.k_proj.weight = [64, 64]: config implies [32, 64]", e.Message);
        Assert.Throws<Core.Errors.IrException>(() => new UnfoldGqa().Run(ir));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FoldReadsEachKvTensorOnceAndNothingElse(bool spannable)
    {
        var (ir, counters) = Counting(SyntheticVariants.MhaFromGqa(TensorNames.HuggingFace), spannable);
        var r = new FoldGqa().Run(ir);
        Assert.Equal(2, r.Ir.Config.NumKvHeads);
        foreach (var (name, c) in counters)
        {
            int expected = name.Contains("k_proj", StringComparison.Ordinal) || name.Contains("v_proj", StringComparison.Ordinal) ? 1 : 0;
            Assert.True(expected == c.Reads, $"{name}: {c.Reads} reads, expected {expected}");
        }
    }

    [Fact]
    public void Q8RowsFoldAsWholeBlocks()
    {
        var gqa = SyntheticModel.Create(SyntheticVariants.GqaLlamaSpec, TensorNames.HuggingFace);
        var mha = Quantize(SyntheticVariants.RepeatKvHeads(gqa));
        var r = new FoldGqa().Run(mha);
        Assert.Equal(2, r.Ir.Config.NumKvHeads);
        Assert.Equal(ElementType.Q8_0, r.Ir[r.Ir.Steps[0].K].Type);
        AssertSameExecution(mha, r.Ir);
    }

    /// <summary>Replaces K and V of step <paramref name="step"/>: head i becomes head pattern[i] of the original.</summary>
    private static ModelIr WithHeads(ModelIr ir, int step, int[] pattern, bool vToo = true)
    {
        var s = ir.Steps[step];
        var keys = vToo ? new[] { s.K, s.V } : [s.K];
        return ir with
        {
            Tensors = ir.Tensors.Select(t =>
            {
                if (!keys.Contains(t.Name)) return t;
                var src = t.Source.ToArray();
                int hb = src.Length / pattern.Length;
                var dst = new byte[src.Length];
                for (int i = 0; i < pattern.Length; i++) src.AsSpan(pattern[i] * hb, hb).CopyTo(dst.AsSpan(i * hb));
                return new Tensor(t.Name, t.Shape, t.Type, new MemorySource(dst));
            }).ToList(),
        };
    }

    /// <summary>K and V as ggml Q8_0 (a stand-in block layout: bytes copied per row; values need not be meaningful here).</summary>
    private static ModelIr Quantize(ModelIr ir)
    {
        var kv = ir.Steps.SelectMany(s => new[] { s.K, s.V }).ToHashSet();
        return ir with
        {
            Tensors = ir.Tensors.Select(t =>
            {
                if (!kv.Contains(t.Name)) return t;
                var f = t.Source.ToArray();
                long bytes = ElementType.Q8_0.ByteSize(t.Shape)!.Value;
                // Each Q8_0 row of 64 values is 2 blocks of 34 bytes: fill row r from the f32 row r so equal heads stay equal.
                int rowIn = f.Length / t.Rows, rowOut = (int)(bytes / t.Rows);
                var q = new byte[bytes];
                for (int r = 0; r < t.Rows; r++) f.AsSpan(r * rowIn, rowOut).CopyTo(q.AsSpan(r * rowOut));
                return new Tensor(t.Name, t.Shape, ElementType.Q8_0, new MemorySource(q));
            }).ToList(),
        };
    }
}
