using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using static MobileLlmConvert.Tests.Passes.PassTestKit;

namespace MobileLlmConvert.Tests.Passes;

public class DedupSharedTensorsTests
{
    [Fact]
    public void LayerSharedModelExportedWithCopiedBlocksStoresEachBlockOnce()
    {
        var spec = SyntheticVariants.LayerSharedSpec;
        var ir = SyntheticVariants.LayerSharedWithCopiedBlocks(TensorNames.HuggingFace);
        Assert.Equal(4, ir.Config.StoredLayers);
        Assert.Equal(1 + 4 * 9 + 1, ir.Tensors.Count);

        var r = new DedupSharedTensors().Run(ir);

        Assert.Equal(1 + 2 * 9 + 1, r.Ir.Tensors.Count);
        Assert.Equal(UniqueWeights(spec), r.Ir.StoredParameters);
        Assert.Equal(2, r.Ir.Config.StoredLayers);
        Assert.Equal(4, r.Ir.Config.ExecutedLayers);
        Assert.Equal(r.Ir.Steps[0], r.Ir.Steps[1]);
        Assert.Equal(r.Ir.Steps[2], r.Ir.Steps[3]);
        Assert.Equal("model.layers.2.self_attn.q_proj.weight", r.Ir.Steps[3].Q);
        long savedParams = ir.StoredParameters - r.Ir.StoredParameters;
        long savedBytes = ir.StoredBytes - r.Ir.StoredBytes;
        Assert.Equal(savedParams * 4, savedBytes);
        Assert.Equal($"merged 18 duplicate tensors into 18: 38 -> 20 stored tensors, {savedParams:N0} parameters and {savedBytes:N0} bytes saved", r.Report.Notes[0]);
        Assert.Equal(["blocks model.layers.{1,3}.* are whole copies of model.layers.{0,2}.* (copy->kept: 1->0, 3->2): kept one of each",
            "distinct stored blocks 4 -> 2 for 4 executed steps"], r.Report.Notes.Skip(1));
        AssertSameExecution(ir, r.Ir);
    }

    [Fact]
    public void MobiLlamaFfnCopiesBecomeOneFfnSharedByEveryStep()
    {
        var spec = SyntheticVariants.MobiLlamaSpec;
        var ir = SyntheticVariants.MobiLlamaWithFfnCopies(TensorNames.HuggingFace);
        var r = new DedupSharedTensors().Run(ir);

        Assert.Equal(UniqueWeights(spec), r.Ir.StoredParameters);
        Assert.Equal(ir.Tensors.Count - 2 * 3, r.Ir.Tensors.Count);
        Assert.All(r.Ir.Steps, s => Assert.Equal("model.layers.0.mlp.up_proj.weight", s.Up));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight is also stored as model.layers.{1,2}.mlp.gate_proj.weight: kept one", r.Report.Notes);
        Assert.Equal(3, r.Ir.Config.StoredLayers);
        AssertSameExecution(ir, r.Ir);
    }

    [Fact]
    public void ManyCopiesAreNamedAsARange()
    {
        var ir = SyntheticVariants.MobiLlamaWithFfnCopies(TensorNames.HuggingFace, SyntheticVariants.MobiLlamaSpec with { StoredLayers = 6 });
        var r = new DedupSharedTensors().Run(ir);
        Assert.Contains("model.layers.0.mlp.down_proj.weight is also stored as model.layers.{1..5}.mlp.down_proj.weight: kept one", r.Report.Notes);
    }

    [Fact]
    public void OneCopiedBlockIsNamedAsABlockAndOtherRepeatsPerTensor()
    {
        // Block 2 is a copy of block 1, and the final norm a copy of block 0's input norm.
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, StoredLayers = 3, Seed = 9 }, TensorNames.HuggingFace);
        string Original(string name) => name == "model.norm.weight" ? "model.layers.0.input_layernorm.weight" : name.Replace("layers.2.", "layers.1.", StringComparison.Ordinal);
        ir = ir with
        {
            Tensors = ir.Tensors.Select(t => Original(t.Name) == t.Name ? t : new Tensor(t.Name, t.Shape, t.Type, new MemorySource(ir[Original(t.Name)].Source.ToArray()))).ToList(),
        };
        var r = new DedupSharedTensors().Run(ir);
        Assert.Equal(["block model.layers.2.* is a whole copy of model.layers.1.*: kept one",
            "model.layers.0.input_layernorm.weight is also stored as model.norm.weight: kept one",
            "distinct stored blocks 3 -> 2 for 3 executed steps"], r.Report.Notes.Skip(1));
        Assert.Equal("model.layers.0.input_layernorm.weight", r.Ir.FinalNorm);
        AssertSameExecution(ir, r.Ir);
    }

    [Fact]
    public void IdenticalNormVectorsAreAnyOtherExactRepeat()
    {
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, Seed = 5 }, TensorNames.HuggingFace);
        var norm = ir["model.layers.0.input_layernorm.weight"];
        ir = ir with
        {
            Tensors = ir.Tensors.Select(t => t.Name == "model.layers.1.post_attention_layernorm.weight" ? new Tensor(t.Name, t.Shape, t.Type, new MemorySource(norm.Source.ToArray())) : t).ToList(),
        };
        var r = new DedupSharedTensors().Run(ir);
        Assert.Equal(ir.Tensors.Count - 1, r.Ir.Tensors.Count);
        Assert.Equal("model.layers.0.input_layernorm.weight", r.Ir.Steps[1].FfnNorm);
        Assert.Equal("model.layers.0.input_layernorm.weight is also stored as model.layers.1.post_attention_layernorm.weight: kept one", r.Report.Notes[1]);
        Assert.Equal(2, r.Ir.Config.StoredLayers);
        AssertSameExecution(ir, r.Ir);
    }

    [Fact]
    public void SameBytesUnderAnotherShapeOrTypeAreNotMerged()
    {
        // gate [128, 64] and down [64, 128] hold the same number of f32 values; give them the same bytes.
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, StoredLayers = 1, Seed = 6 }, TensorNames.HuggingFace);
        var gate = ir["model.layers.0.mlp.gate_proj.weight"].Source.ToArray();
        ir = ir with { Tensors = ir.Tensors.Select(t => t.Name == "model.layers.0.mlp.down_proj.weight" ? new Tensor(t.Name, t.Shape, t.Type, new MemorySource(gate)) : t).ToList() };
        var r = new DedupSharedTensors().Run(ir);
        Assert.Same(ir, r.Ir);
        Assert.False(r.Report.Changed);
    }

    [Fact]
    public void PlainModelsHaveNothingToMerge()
    {
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, Seed = 7 }, TensorNames.HuggingFace);
        var r = new DedupSharedTensors().Run(ir);
        Assert.Same(ir, r.Ir);
        // Every tensor shares its type and shape with another (embedding and head, the five norms, q/o, k/v,
        // gate/up, the two downs), so all 21 are hashed, and none matches.
        Assert.Equal(["no two stored tensors are byte-identical (21 of 21 tensors share a type and shape with another and were hashed)"], r.Report.Notes);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EachTensorIsHashedFromOneReadAndReadAgainOnlyToConfirmAMatch(bool spannable)
    {
        var (ir, counters) = Counting(SyntheticVariants.MobiLlamaWithFfnCopies(TensorNames.HuggingFace), spannable);
        new DedupSharedTensors().Run(ir);
        foreach (var (name, c) in counters)
        {
            // Embedding [320,64] and head [320,64] share a bucket; everything in a bucket is hashed once.
            // FFN copies match by hash and are confirmed byte for byte: one more read each.
            int expected = name.Contains(".mlp.", StringComparison.Ordinal) ? 2 : 1;
            Assert.True(expected == c.Reads, $"{name}: {c.Reads} reads, expected {expected}");
        }
    }

    [Fact]
    public void TensorAloneInItsTypeAndShapeIsNeverRead()
    {
        var (ir, counters) = Counting(SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, StoredLayers = 1, Tied = true, Seed = 8 }, TensorNames.HuggingFace), spannable: true);
        new DedupSharedTensors().Run(ir);
        Assert.Equal(0, counters["model.embed_tokens.weight"].Reads);
        Assert.Equal(0, counters["model.layers.0.mlp.down_proj.weight"].Reads);
        Assert.Equal(1, counters["model.layers.0.mlp.gate_proj.weight"].Reads);
    }
    [Fact]
    public void LargeTensorsEqualInTheSampledWindowsOnlyAreNotMerged()
    {
        // 512 KiB tensors: hashed first by a sample of four 64 KiB windows; byte 100,000 lies outside them.
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, StoredLayers = 2, Seed = 9 }, TensorNames.HuggingFace);
        var names = ir.Tensors.Select(t => t.Name).Where(n => n.Contains(".q_proj.", StringComparison.Ordinal) || n.Contains(".o_proj.", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, names.Count);
        var rng = new Random(5);
        var a = new byte[512 << 10];
        rng.NextBytes(a);
        var nearly = (byte[])a.Clone();
        nearly[100_000] ^= 1;
        var other = new byte[a.Length];
        rng.NextBytes(other);
        Tensor Big(string name, byte[] bytes) => new(name, [1024, 128], ElementType.F32, new MemorySource(bytes));

        // Three share the sample (two equal, one not): the full hash splits them; the equal pair merges.
        var three = ir with { Tensors = ir.Tensors.Select(t => t.Name == names[0] ? Big(t.Name, a) : t.Name == names[1] ? Big(t.Name, nearly)
            : t.Name == names[2] ? Big(t.Name, (byte[])a.Clone()) : t.Name == names[3] ? Big(t.Name, other) : t).ToList() };
        var r = new DedupSharedTensors().Run(three);
        Assert.Equal([names[2]], three.Tensors.Select(t => t.Name).Except(r.Ir.Tensors.Select(t => t.Name)));
        Assert.Equal(names[0], r.Ir.Steps[1].Q);

        // Two share the sample and differ elsewhere: compared byte for byte, not merged.
        var two = ir with { Tensors = ir.Tensors.Select(t => t.Name == names[0] ? Big(t.Name, a) : t.Name == names[1] ? Big(t.Name, nearly)
            : t.Name == names[2] || t.Name == names[3] ? Big(t.Name, t.Name == names[2] ? other : ((byte[])other.Clone()).Select((b, i) => i == 0 ? (byte)(b ^ 1) : b).ToArray()) : t).ToList() };
        var r2 = new DedupSharedTensors().Run(two);
        Assert.False(r2.Report.Changed);
    }
}
