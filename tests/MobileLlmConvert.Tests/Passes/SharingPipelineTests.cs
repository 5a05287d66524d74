using System.Text.Json;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using Xunit.Abstractions;
using static MobileLlmConvert.Tests.Passes.PassTestKit;

namespace MobileLlmConvert.Tests.Passes;

public class SharingPipelineTests(ITestOutputHelper output)
{
    /// <summary>Each fixture of issue 3 and each plain family, with the spec that generated it.</summary>
    public static (ModelIr Ir, SyntheticSpec Spec) Fixture(string name) => name switch
    {
        "ls-copied-blocks" => (SyntheticVariants.LayerSharedWithCopiedBlocks(TensorNames.HuggingFace), SyntheticVariants.LayerSharedSpec),
        "mobillama-ffn-copies" => (SyntheticVariants.MobiLlamaWithFfnCopies(TensorNames.HuggingFace), SyntheticVariants.MobiLlamaSpec),
        // Unique weights are the GQA model's: the repeated heads are copies.
        "mha-from-gqa" => (SyntheticVariants.MhaFromGqa(TensorNames.HuggingFace), SyntheticVariants.GqaLlamaSpec),
        "untied-claims-tie" => (SyntheticVariants.UntiedClaimingTie(TensorNames.HuggingFace), SyntheticVariants.UntiedLlamaSpec),
        "mobilellm-stored-head" => (SyntheticVariants.MobileLlmWithStoredHead(TensorNames.HuggingFace), SyntheticVariants.MobileLlmSpec),
        "llama" => Plain(new SyntheticSpec { Family = ModelFamily.Llama, Seed = 41 }),
        "mobilellm" => Plain(new SyntheticSpec { Family = ModelFamily.MobileLLM, Tied = true, Seed = 42 }),
        "mobilellm-ls" => Plain(new SyntheticSpec { Family = ModelFamily.MobileLLM, Tied = true, LayerSharing = true, Seed = 43 }),
        "mobillama" => Plain(new SyntheticSpec { Family = ModelFamily.MobiLlama, NumKvHeads = 4, StoredLayers = 3, Seed = 44 }),
        _ => throw new ArgumentException(name),
    };

    private static (ModelIr, SyntheticSpec) Plain(SyntheticSpec spec) => (SyntheticModel.Create(spec, TensorNames.HuggingFace), spec);

    [Theory]
    [InlineData("ls-copied-blocks", 38, 20)]
    [InlineData("mobillama-ffn-copies", 30, 24)]
    [InlineData("mha-from-gqa", 21, 21)]
    [InlineData("untied-claims-tie", 21, 21)]
    [InlineData("mobilellm-stored-head", 21, 20)]
    [InlineData("llama", 21, 21)]
    [InlineData("mobilellm", 20, 20)]
    [InlineData("mobilellm-ls", 20, 20)]
    [InlineData("mobillama", 24, 24)]
    public void StoresEachUniqueWeightOnceAndExecutesTheSame(string name, int tensorsBefore, int tensorsAfter)
    {
        var (ir, spec) = Fixture(name);
        var r = SharingPipeline.Run(ir);

        Assert.Equal(tensorsBefore, ir.Tensors.Count);
        Assert.Equal(tensorsAfter, r.Ir.Tensors.Count);
        Assert.Equal(UniqueWeights(spec), r.Ir.StoredParameters);
        Assert.Equal(new SharingTotals(tensorsBefore, tensorsAfter, ir.StoredParameters, r.Ir.StoredParameters, ir.StoredBytes, r.Ir.StoredBytes,
            ir.Config.NumKvHeads, r.Ir.Config.NumKvHeads, KvCacheSize.BytesPerToken(ir.Config), KvCacheSize.BytesPerToken(r.Ir.Config)), r.Totals);
        Assert.Equal(["TieEmbeddings", "DedupSharedTensors", "FoldGqa"], r.Reports.Select(p => p.Pass));
        Assert.Equal(r.Reports[0].StoredParametersBefore, ir.StoredParameters);
        Assert.Equal(r.Reports[^1].StoredParametersAfter, r.Ir.StoredParameters);
        AssertSameExecution(ir, r.Ir);
        output.WriteLine($"{name}: {ir.Tensors.Count} -> {r.Ir.Tensors.Count} tensors, {ir.StoredParameters:N0} -> {r.Ir.StoredParameters:N0} parameters, " +
                         $"{ir.StoredBytes:N0} -> {r.Ir.StoredBytes:N0} bytes, n_kv {ir.Config.NumKvHeads} -> {r.Ir.Config.NumKvHeads}");
        foreach (var p in r.Reports)
        {
            foreach (var n in p.Notes) output.WriteLine($"  {p.Pass}: {n}");
            foreach (var w in p.Warnings) output.WriteLine($"  {p.Pass} WARNING: {w}");
        }
    }

    [Fact]
    public void ReportsSayWhatHappenedToEachFixture()
    {
        var a = SharingPipeline.Run(Fixture("ls-copied-blocks").Ir).Reports;
        Assert.StartsWith("head already tied", a[0].Notes[0]);
        Assert.StartsWith("merged 18 duplicate tensors into 18: 38 -> 20 stored tensors", a[1].Notes[0]);
        Assert.Equal(["no K/V heads repeat in every step: n_kv stays 2"], a[2].Notes);

        var b = SharingPipeline.Run(Fixture("mobillama-ffn-copies").Ir).Reports;
        Assert.Equal("head untied: lm_head.weight differs from model.embed_tokens.weight (first differing byte at offset 0)", b[0].Notes[0]);
        Assert.StartsWith("merged 6 duplicate tensors into 3: 30 -> 24 stored tensors", b[1].Notes[0]);

        var c = SharingPipeline.Run(Fixture("mha-from-gqa").Ir).Reports;
        Assert.Equal(["no two stored tensors are byte-identical (21 of 21 tensors share a type and shape with another and were hashed)"], c[1].Notes);
        Assert.StartsWith("K/V heads repeat in consecutive groups of 2 in all 2 steps", c[2].Notes[0]);

        var d = SharingPipeline.Run(Fixture("untied-claims-tie").Ir).Reports;
        Assert.StartsWith("config flag tie_word_embeddings claims a tied head, but lm_head.weight differs from model.embed_tokens.weight", Assert.Single(d[0].Warnings));
        Assert.All(d.Skip(1), p => Assert.False(p.Changed));

        var e = SharingPipeline.Run(Fixture("mobilellm-stored-head").Ir).Reports;
        Assert.StartsWith("lm_head.weight is byte-identical to model.embed_tokens.weight: tied the head", e[0].Notes[0]);
        Assert.False(e[1].Changed);
    }

    [Fact]
    public void AllPassesOffLeavesTheIrAsItWas()
    {
        var ir = Fixture("ls-copied-blocks").Ir;
        var r = SharingPipeline.Run(ir, new SharingOptions { NoTie = true, NoDedup = true, NoFoldGqa = true });
        Assert.Same(ir, r.Ir);
        Assert.All(r.Reports, p => Assert.Equal(["skipped: turned off"], p.Notes));
        Assert.Equal(0, r.Totals.TensorsMerged);
    }

    [Fact]
    public void NoTieKeepsAnEqualStoredHeadEvenThroughDedup()
    {
        var (ir, spec) = Fixture("mobilellm-stored-head");
        var r = SharingPipeline.Run(ir, new SharingOptions { NoTie = true });
        Assert.Equal("lm_head.weight", r.Ir.Output);
        Assert.Same(ir, r.Ir);
        Assert.Equal(UniqueWeights(spec) + (long)spec.VocabSize * spec.HiddenSize, r.Ir.StoredParameters);
        Assert.Contains("output head lm_head.weight kept out of merging (tying is off)", r.Reports[1].Notes);
    }

    [Fact]
    public void DedupWithoutTieStillTiesAnEqualHeadAndSaysSo()
    {
        var ir = Fixture("mobilellm-stored-head").Ir;
        var r = new DedupSharedTensors().Run(ir);
        Assert.True(r.Ir.IsTied);
        Assert.Contains("the head lm_head.weight equals the embedding model.embed_tokens.weight: it is now tied", r.Report.Notes);
    }

    [Fact]
    public void NoDedupKeepsCopiesAndNoFoldKeepsHeads()
    {
        var b = Fixture("mobillama-ffn-copies").Ir;
        Assert.Same(b, SharingPipeline.Run(b, new SharingOptions { NoDedup = true }).Ir);
        var c = Fixture("mha-from-gqa").Ir;
        var r = SharingPipeline.Run(c, new SharingOptions { NoFoldGqa = true });
        Assert.Same(c, r.Ir);
        Assert.Equal(4, r.Ir.Config.NumKvHeads);
        Assert.Equal(r.Totals.KvCacheBytesPerTokenBefore, r.Totals.KvCacheBytesPerTokenAfter);
    }

    [Fact]
    public void PassesNeverChangeTheirInput()
    {
        foreach (var name in new[] { "ls-copied-blocks", "mobillama-ffn-copies", "mha-from-gqa", "mobilellm-stored-head" })
        {
            var ir = Fixture(name).Ir;
            var names = ir.Tensors.Select(t => t.Name).ToList();
            var snapshot = ir.Tensors.ToDictionary(t => t.Name, t => t.Source.ToArray());
            var (config, steps, outputKey) = (ir.Config, ir.Steps.ToList(), ir.Output);
            foreach (var pass in new IPass[] { new TieEmbeddings(), new DedupSharedTensors(), new FoldGqa(), new UnfoldGqa() }) pass.Run(ir);
            SharingPipeline.Run(ir);

            Assert.Equal(names, ir.Tensors.Select(t => t.Name));
            Assert.Equal(config, ir.Config);
            Assert.Equal(steps, ir.Steps);
            Assert.Equal(outputKey, ir.Output);
            foreach (var key in ir.UsedKeys()) Assert.Equal(snapshot[key], ir[key].Source.ToArray());
        }
    }

    [Fact]
    public void SharedTensorsAreReadTwiceAtMostAcrossTheWholePipeline()
    {
        // Tie reads embedding and head once; dedup hashes each candidate once and re-reads hash matches once to
        // confirm; the fold reads each K/V tensor once. Nothing is read for any other reason.
        var (ir, counters) = Counting(Fixture("mobilellm-stored-head").Ir, spannable: false);
        SharingPipeline.Run(ir);
        // After tying, the embedding is alone in its type and shape, so dedup never reads it.
        Assert.Equal(1, counters["model.embed_tokens.weight"].Reads);
        Assert.Equal(1, counters["lm_head.weight"].Reads);
        Assert.Equal(2, counters["model.layers.0.self_attn.k_proj.weight"].Reads); // dedup hash + fold
        Assert.Equal(1, counters["model.layers.0.mlp.gate_proj.weight"].Reads);
        Assert.All(counters.Values, c => Assert.InRange(c.Reads, 1, 2));
    }
}
