using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Tests.Trained;

namespace MobileLlmConvert.Tests.Budget;

/// <summary>
/// `--max-kl`, `--target-size`, `--target-bpw` on the trained fixture (docs/quantization.md, "Accuracy
/// budget"): the result measured by `diff` on the same tokens meets the budget, is smaller than uniform
/// q8, shrinks as the budget loosens, reruns byte for byte, and an impossible budget is one error line.
/// Short evaluations (256 tokens = one window of the fixture's context) keep the runs to seconds.
/// </summary>
public sealed class BudgetTests
{
    private const string EvalTokens = "256";
    private static string Reference => TrainedFixture.Dir;

    private static CliResult Ok(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    private static JsonElement Json(CliResult r)
    {
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.Clone();
    }

    private static long BundleBytes(string dir) => Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);

    private static double DiffMeanKl(string candidate) =>
        Json(Ok("diff", Reference, candidate, "--max-tokens", EvalTokens, "--json")).GetProperty("candidates")[0].GetProperty("kl").GetProperty("mean").GetDouble();

    [Fact]
    public void MaxKlBundlesMeetTheirBudgetAsDiffMeasuresItShrinkAsItLoosensAndBeatUniformQ8()
    {
        using var dir = new TempDir();
        double[] budgets = [0.0005, 0.001, 0.004];
        var sizes = new List<long>();
        foreach (var budget in budgets)
        {
            string b = dir[$"kl{budget}"];
            string x = budget.ToString("R", CultureInfo.InvariantCulture);
            var doc = Json(Ok("hf2mobile", Reference, "-o", b, "--max-kl", x, "--eval-tokens", EvalTokens, "--json"));
            var report = doc.GetProperty("budget");
            double measured = report.GetProperty("measured_mean_kl").GetDouble();
            // The search's figure is diff's on the same tokens and windows, to the last bit, and within the budget.
            Assert.Equal(DiffMeanKl(b), measured);
            Assert.True(measured <= budget, $"--max-kl {x}: measured {measured}");

            var quality = doc.GetProperty("manifest").GetProperty("quality");
            Assert.Equal("max_kl", quality.GetProperty("budget").GetString());
            Assert.Equal(budget, quality.GetProperty("value").GetDouble());
            Assert.Equal(measured, quality.GetProperty("measured_mean_kl").GetDouble());
            Assert.Equal(256, quality.GetProperty("tokens").GetInt32());
            Assert.Equal(256, quality.GetProperty("context").GetInt32());
            Assert.Equal(EvaluationText.DefaultName, quality.GetProperty("eval_text").GetString());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(EvaluationText.Default))), quality.GetProperty("eval_text_sha256").GetString());
            // Every recorded type is the type the bundle stores.
            using (var ir = Models.Open(b))
            {
                var recorded = quality.GetProperty("tensor_types").EnumerateObject().ToList();
                Assert.NotEmpty(recorded);
                foreach (var t in recorded) Assert.Equal(t.Value.GetString(), ir[t.Name].Type.Info().Name);
                Assert.Equal(report.GetProperty("tensor_bytes").GetInt64(), ir.StoredBytes);
            }
            sizes.Add(BundleBytes(b));
        }
        // Looser budget, smaller or equal bundle.
        Assert.True(sizes[0] >= sizes[1] && sizes[1] >= sizes[2], string.Join(", ", sizes));
        string q8 = dir["q8"];
        Ok("hf2mobile", Reference, "-o", q8, "--quant", "q8");
        Assert.True(sizes[1] < BundleBytes(q8), $"--max-kl 0.001: {sizes[1]} bytes, uniform q8 {BundleBytes(q8)}");
        Assert.True(DiffMeanKl(q8) <= 0.001, "q8 itself is within the budget, so the search had a valid model to beat");
    }

    [Fact]
    public void TargetSizeFitsAndARerunIsByteIdentical()
    {
        using var dir = new TempDir();
        const long target = 700_000;
        string[] run = ["--target-size", "700kB", "--eval-tokens", EvalTokens];
        var doc = Json(Ok(["hf2mobile", Reference, "-o", dir["a"], .. run, "--json"]));
        var report = doc.GetProperty("budget");
        Assert.Equal("target_size", report.GetProperty("kind").GetString());
        Assert.Equal(target, report.GetProperty("target_bytes").GetInt64());
        using (var ir = Models.Open(dir["a"]))
        {
            Assert.True(ir.StoredBytes <= target, $"{ir.StoredBytes} tensor bytes over {target}");
            Assert.Equal(report.GetProperty("tensor_bytes").GetInt64(), ir.StoredBytes);
        }
        Assert.Equal(DiffMeanKl(dir["a"]), report.GetProperty("measured_mean_kl").GetDouble());
        Ok(["hf2mobile", Reference, "-o", dir["b"], .. run]);
        foreach (var name in new[] { MobileBundle.ModelFileName, MobileBundle.ManifestFileName })
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir["a"], name)), File.ReadAllBytes(Path.Combine(dir["b"], name)));
    }

    [Fact]
    public void GgufTargetBpwUsesOnlyGgmlTypesAndRecordsTheBudgetInItsMetadata()
    {
        using var dir = new TempDir();
        string gguf = dir["m.gguf"];
        var doc = Json(Ok("convert", Reference, "--to", "gguf", "-o", gguf, "--target-bpw", "5", "--eval-tokens", EvalTokens, "--json"));
        var report = doc.GetProperty("budget");
        using (var ir = Models.Open(gguf))
        {
            Assert.True(ir.StoredBytes * 8.0 / ir.StoredParameters <= 5, $"{ir.StoredBytes} bytes for {ir.StoredParameters} parameters");
            foreach (var t in report.GetProperty("tensors").EnumerateArray())
                Assert.Contains(t.GetProperty("type").GetString(), new[] { "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q6_k", "f16" });
        }
        var meta = Models.Describe(gguf).Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("target_bpw", meta["mobilellmconvert.quality.budget"]);
        Assert.Equal(EvalTokens, meta["mobilellmconvert.quality.tokens"]);
        Assert.Equal(report.GetProperty("measured_mean_kl").GetDouble().ToString("R", CultureInfo.InvariantCulture),
            double.Parse(meta["mobilellmconvert.quality.measured_mean_kl"], CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture));
    }

    [Fact]
    public void ImpossibleBudgetsAreOneErrorLineAndLeaveNothingBehind()
    {
        using var dir = new TempDir();
        var small = CliRunner.Run("hf2mobile", Reference, "-o", dir["small"], "--target-size", "1kB", "--eval-tokens", EvalTokens);
        Assert.Equal(2, small.ExitCode);
        Assert.Matches(@"^mlconvert: error: --target-size 1000: the smallest model the candidate types allow stores \d+ tensor bytes, over the budget of 1000\n$", small.Stderr.Replace("\r", ""));
        Assert.False(Directory.Exists(dir["small"]));

        // An f32 source: even f16 everywhere moves the logits, so a KL of 0 is out of reach.
        Ok("synth", "--preset", "tiny-mobilellm", "-o", dir["ckpt"]);
        var exact = CliRunner.Run("hf2mobile", dir["ckpt"], "-o", dir["zero"], "--max-kl", "0", "--eval-tokens", "64");
        Assert.Equal(2, exact.ExitCode);
        Assert.StartsWith("mlconvert: error: --max-kl 0 is out of reach: with every searched tensor at its largest candidate type (f16) the mean KL is ", exact.Stderr);
        Assert.EndsWith("; loosen the budget, or convert without one (--quant f32 keeps the weights exact)\n", exact.Stderr.Replace("\r", ""));
        Assert.False(Directory.Exists(dir["zero"]));
    }

    [Fact]
    public void ABudgetWithQuantOrWithAnotherBudgetIsAUsageError()
    {
        using var dir = new TempDir();
        var quant = CliRunner.Run("hf2mobile", Reference, "-o", dir["q"], "--max-kl", "0.001", "--quant", "q4");
        Assert.Equal(2, quant.ExitCode);
        Assert.Equal("mlconvert: error: --max-kl, --target-size and --target-bpw choose each tensor's type: drop --quant and --group-size (--quant-override pins a tensor's type)",
            quant.Stderr.TrimEnd());
        var two = CliRunner.Run("convert", Reference, "--to", "gguf", "-o", dir["m.gguf"], "--max-kl", "0.001", "--target-bpw", "5");
        Assert.Equal(2, two.ExitCode);
        Assert.Equal("mlconvert: error: --max-kl, --target-size and --target-bpw: give one budget, not several", two.Stderr.TrimEnd());
        var eval = CliRunner.Run("hf2mobile", Reference, "-o", dir["e"], "--eval-tokens", "10");
        Assert.Equal(2, eval.ExitCode);
        Assert.Equal("mlconvert: error: --eval-text and --eval-tokens need --max-kl, --target-size or --target-bpw", eval.Stderr.TrimEnd());
        Assert.False(Directory.Exists(dir["q"]) || Directory.Exists(dir["e"]) || File.Exists(dir["m.gguf"]));
    }

    [Theory]
    [InlineData("40MB", 40_000_000L)]
    [InlineData("40MiB", 41_943_040L)]
    [InlineData("1.5kB", 1_500L)]
    [InlineData("2gib", 2_147_483_648L)]
    [InlineData("12345", 12_345L)]
    public void TargetSizeAcceptsDecimalAndBinaryUnits(string text, long bytes) => Assert.Equal(bytes, QuantFlags.ParseSize(text));

    [Theory]
    [InlineData("40XB", "--target-size 40XB: unknown unit \"XB\" (expected B, kB, MB, GB, KiB, MiB or GiB)")]
    [InlineData("-3MB", "--target-size -3MB: expected a positive size such as 40MB, 38MiB or 40000000")]
    [InlineData("MB", "--target-size MB: expected a positive size such as 40MB, 38MiB or 40000000")]
    public void TargetSizeRefusesWhatIsNotASize(string text, string message) =>
        Assert.Equal(message, Assert.Throws<UsageException>(() => QuantFlags.ParseSize(text)).Message);

    [Fact]
    public void AManifestQualityRecordIsCheckedLikeEveryOtherField()
    {
        string Manifest(string quality) =>
            "{\"format\":\"mlconvert-mobile-bundle\",\"format_version\":1,\"model\":\"model.mlcm\",\"family\":\"MobileLlm\",\"architecture\":\"a\"," +
            "\"source_checkpoint_sha256\":null,\"tool_version\":\"1\",\"options\":{},\"parameters\":{\"stored\":1,\"executed\":1},\"files\":[]," + quality + "}";
        const string good = "\"quality\":{\"budget\":\"max_kl\",\"value\":0.001,\"measured_mean_kl\":0.0009,\"eval_text\":\"t\",\"eval_text_sha256\":\"00\",\"tokens\":5,\"context\":4,\"tensor_types\":{\"w\":\"q4_0\"}}";
        var parsed = BundleManifest.Parse(Encoding.UTF8.GetBytes(Manifest(good)), "manifest.json");
        Assert.Equal(new KeyValuePair<string, string>("w", "q4_0"), Assert.Single(parsed.Quality!.TensorTypes));
        var bad = Assert.Throws<BundleException>(() => BundleManifest.Parse(Encoding.UTF8.GetBytes(Manifest(good.Replace("max_kl", "min_kl"))), "manifest.json"));
        Assert.Equal("manifest.json: quality.budget = min_kl: expected one of max_kl, target_size, target_bpw", bad.Message);
        var negative = Assert.Throws<BundleException>(() => BundleManifest.Parse(Encoding.UTF8.GetBytes(Manifest(good.Replace("0.0009", "-1"))), "manifest.json"));
        Assert.Equal("manifest.json: quality.measured_mean_kl = -1: must be a finite number >= 0", negative.Message);
    }
}
