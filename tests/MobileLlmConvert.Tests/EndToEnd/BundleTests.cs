using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.EndToEnd;

/// <summary>The main job, `hf2mobile`, on every family: what the bundle computes, what it stores, and that reruns are identical.</summary>
public sealed class BundleTests(ITestOutputHelper output)
{
    public static TheoryData<string> Families => Models.FamilyData();

    private static string Bundle(TempDir dir, string source, params string[] options)
    {
        string bundle = dir.File("bundle" + string.Concat(options).Replace("-", ""));
        var r = CliRunner.Run(["hf2mobile", source, "-o", bundle, .. options]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return bundle;
    }

    private static JsonElement Verify(string bundle, string reference, params string[] options)
    {
        var r = CliRunner.Run(["verify", bundle, "--reference", reference, "--tokens", string.Join(',', Models.Tokens), "--json", .. options]);
        Assert.True(r.ExitCode is 0 or 1, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(r.ExitCode == 0, doc.RootElement.GetProperty("pass").GetBoolean());
        return doc.RootElement.Clone();
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void F16BundleLogitsAreWithin1e2OfTheCheckpoint(string fixture)
    {
        using var dir = new TempDir();
        string bundle = Bundle(dir, Models.Path(fixture), "--quant", "f16");
        var (hf, _) = Models.Logits(Models.Path(fixture), Models.Tokens);
        var (mobile, _) = Models.Logits(bundle, Models.Tokens);
        double diff = Models.MaxAbsDiff(hf, mobile);
        output.WriteLine($"{fixture} f16 bundle: max abs logit diff {diff:E3}");
        Assert.True(diff <= 1e-2, $"{fixture}: {diff:E3}");
    }

    /// <summary>
    /// Smallest reference top-1 margin (in logits) at which q8 must keep the decision. Random tiny
    /// models have near-ties (0.005 logit apart in llama-tiny) that an int8 weight error of ~0.08
    /// logit can legitimately flip; a decision 0.1 apart must survive.
    /// </summary>
    private const float Top1Margin = 0.1f;
    /// <summary>KL bound for q8 bundles on the fixtures (measured at most 1.8e-2).</summary>
    private const string Q8MaxKl = "0.05";

    [Theory]
    [MemberData(nameof(Families))]
    public void Q8BundleKeepsTop1AndQ4KlIsReported(string fixture)
    {
        using var dir = new TempDir();
        string q8Bundle = Bundle(dir, Models.Path(fixture), "--quant", "q8");
        var q8 = Verify(q8Bundle, Models.Path(fixture), "--max-kl", Q8MaxKl);
        Assert.True(q8.GetProperty("pass").GetBoolean(), $"{fixture}: q8 max KL {q8.GetProperty("max_kl").GetDouble():E3}");
        var (hf, vocab) = Models.Logits(Models.Path(fixture), Models.Tokens);
        var (mobile, _) = Models.Logits(q8Bundle, Models.Tokens);
        for (int p = 0; p < Models.Tokens.Length; p++)
        {
            var row = hf.AsSpan(p * vocab, vocab);
            int top = LogitComparison.ArgMax(row);
            float runnerUp = float.NegativeInfinity;
            for (int i = 0; i < vocab; i++) if (i != top) runnerUp = Math.Max(runnerUp, row[i]);
            if (row[top] - runnerUp >= Top1Margin) Assert.Equal(top, LogitComparison.ArgMax(mobile.AsSpan(p * vocab, vocab)));
        }
        var q4 = Verify(Bundle(dir, Models.Path(fixture)), Models.Path(fixture), "--max-kl", "1000");
        output.WriteLine($"{fixture}: q8 top-1 {q8.GetProperty("top1_agreement").GetDouble():P0}, max KL {q8.GetProperty("max_kl").GetDouble():E3}; " +
                         $"q4 (default) top-1 {q4.GetProperty("top1_agreement").GetDouble():P0}, mean KL {q4.GetProperty("mean_kl").GetDouble():E3}, max KL {q4.GetProperty("max_kl").GetDouble():E3}");
        Assert.True(q4.GetProperty("max_kl").GetDouble() >= q8.GetProperty("max_kl").GetDouble(), "int4 should cost more than int8");
    }

    [Fact]
    public void VerifyExitsOneWhenKlIsOverTheThreshold()
    {
        using var dir = new TempDir();
        string bundle = Bundle(dir, Models.Path("llama-tiny"));
        var r = CliRunner.Run("verify", bundle, "--reference", Models.Path("llama-tiny"), "--max-kl", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("FAIL: max KL divergence over threshold", r.Stdout);
    }

    [Fact]
    public void RerunsAreByteIdentical()
    {
        using var dir = new TempDir();
        string a = dir.File("a"), b = dir.File("b");
        Assert.Equal(0, CliRunner.Run("hf2mobile", Models.Path("mobilellm-ls-tiny"), "-o", a).ExitCode);
        Assert.Equal(0, CliRunner.Run("hf2mobile", Models.Path("mobilellm-ls-tiny"), "-o", b).ExitCode);
        foreach (var name in new[] { "model.mlcm", "manifest.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, name)), File.ReadAllBytes(Path.Combine(b, name)));
    }

    [Fact]
    public void MobiLlamaBundleStoresOneFfnAndTiedModelsOneEmbedding()
    {
        using var dir = new TempDir();
        using (var ir = ModelOpener.Open(Bundle(dir, Models.Path("mobillama-ffn-copies"))))
        {
            Assert.Single(ir.Tensors, t => t.Name.EndsWith("mlp.gate_proj.weight", StringComparison.Ordinal));
            Assert.Single(ir.Steps.Select(s => (s.Gate, s.Up, s.Down)).Distinct());
            Assert.Equal(3, ir.Steps.Count);
        }
        foreach (var tied in new[] { "mobilellm-tiny", "mobilellm-with-lm-head", "llama-tiny-tied" })
        {
            using var ir = ModelOpener.Open(Bundle(dir, Models.Path(tied), "--quant", "q8"));
            Assert.True(ir.IsTied, tied);
            Assert.Single(ir.Tensors, t => t.Shape.SequenceEqual(new long[] { ir.Config.VocabSize, ir.Config.HiddenSize }));
        }
    }

    /// <summary>
    /// Dedup on an LS checkpoint exported with every block copied. On the committed tiny fixture the
    /// fixed part (a 320-piece vocabulary's 8-bit embedding, tokenizer, header) is larger than a
    /// block, so the ratio is reported there; the issue's bound (0.6) is asserted on a generated
    /// checkpoint whose blocks outweigh the fixed part as they do in every released MobileLLM
    /// (125M: a 19.6 MB embedding against 30 blocks of 2 MB at int4).
    /// </summary>
    [Fact]
    public void DedupOfCopiedLayerSharedBlocksShrinksTheBundle()
    {
        using var dir = new TempDir();
        double tiny = Ratio(dir, Models.Path("mobilellm-ls-copied"));
        output.WriteLine($"committed mobilellm-ls-copied: bundle / --no-dedup bundle = {tiny:F3}");
        Assert.True(tiny < 0.8, $"{tiny:F3}");

        var spec = new SyntheticSpec
        {
            Family = ModelFamily.MobileLLM, VocabSize = 2048, HiddenSize = 256, IntermediateSize = 704, NumHeads = 4, NumKvHeads = 2,
            StoredLayers = 4, LayerSharing = true, Tied = true, DType = ElementType.BF16, InitStd = 0.02f, Seed = 7,
        };
        string ckpt = dir.File("ls-copied-generated");
        using (var ir = SyntheticVariants.UnshareSteps(SyntheticModel.Create(spec, TensorNames.HuggingFace), TensorNames.HuggingFace)) HfExporter.Export(ir, ckpt, new HfExportOptions());
        double generated = Ratio(dir, ckpt);
        output.WriteLine($"generated LS-copied (hidden 256, 8 copied blocks, vocab 2048): ratio {generated:F3}");
        Assert.True(generated <= 0.6, $"{generated:F3}");
    }

    private static double Ratio(TempDir dir, string checkpoint)
    {
        long Size(string bundle) => new FileInfo(Path.Combine(bundle, "model.mlcm")).Length;
        string name = Path.GetFileName(checkpoint);
        string shared = dir.File(name + "-dedup"), copied = dir.File(name + "-nodedup");
        Assert.Equal(0, CliRunner.Run("hf2mobile", checkpoint, "-o", shared).ExitCode);
        Assert.Equal(0, CliRunner.Run("hf2mobile", checkpoint, "-o", copied, "--no-dedup").ExitCode);
        return (double)Size(shared) / Size(copied);
    }
}
