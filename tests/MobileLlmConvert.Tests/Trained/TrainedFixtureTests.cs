using System.Security.Cryptography;
using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Formats.SentencePiece;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.EndToEnd;
using MobileLlmConvert.Tests.Fixtures;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Trained;

// Inside the namespace so it wins over the library facade MobileLlmConvert.Models.
using Models = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>
/// A checkpoint with trained weights, published the way the Hub publishes MobileLLM-LS, must import,
/// run, convert and verify: logits against torch's float64 forward, the greedy continuation, the
/// sentencepiece ids of the trainer's own model, and the default bundle passing `verify`.
/// </summary>
public sealed class TrainedFixtureTests(ITestOutputHelper output)
{
    /// <summary>
    /// Logit tolerance relative to the largest |logit| at the position. The weights are the same fp16
    /// values on both sides; the goldens are a float64 forward, the executor accumulates in f32 over
    /// 12 executed layers (f32 epsilon 6e-8, sums of at most 256 terms, softmax and RMSNorm
    /// rescalings), which stays orders of magnitude under 1e-3; a real mistake (RoPE layout, GQA
    /// mapping, sharing order, norm epsilon, the head) moves logits by whole units.
    /// </summary>
    private const double RelativeLogitTolerance = 1e-3;

    [Fact]
    public void CommittedFilesMatchSha256Sums()
    {
        var lines = File.ReadAllLines(Path.Combine(TrainedFixture.ScriptDir, "SHA256SUMS"));
        var listed = new List<string>();
        foreach (var line in lines)
        {
            var parts = line.Split("  ", 2);
            Assert.True(parts.Length == 2 && parts[0].Length == 64, $"not a sha256sum line: '{line}'");
            string path = Path.Combine(FixtureCatalog.RepoRoot, parts[1]);
            Assert.Equal(parts[0], Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
            listed.Add(parts[1]);
        }
        Assert.Equal(
            ["testdata/models/mobilellm-ls-trained/config.json", "testdata/models/mobilellm-ls-trained/pytorch_model.bin",
             "testdata/models/mobilellm-ls-trained/tokenizer.model", "testdata/models/mobilellm-ls-trained/tokenizer_config.json",
             "testdata/trained/goldens.json"], listed);
        Assert.Equal(141, new FileInfo(Path.Combine(TrainedFixture.Dir, "tokenizer_config.json")).Length);
    }

    [Fact]
    public void TokenizerGivesTheTrainersIds()
    {
        string model = Path.Combine(TrainedFixture.Dir, "tokenizer.model");
        var ir = SentencePieceModelFile.Read(File.ReadAllBytes(model), model,
            File.ReadAllBytes(Path.Combine(TrainedFixture.Dir, "tokenizer_config.json")));
        var tokenizer = new TextTokenizer(ir);
        foreach (var (text, ids) in TrainedFixture.Goldens.Tokenization)
            Assert.Equal(ids, tokenizer.Encode(text));
    }

    [Fact]
    public void LogitsMatchTorchFloat64Goldens()
    {
        double worst = 0;
        foreach (var seq in TrainedFixture.Goldens.Logits)
        {
            var (logits, vocab) = Models.Logits(TrainedFixture.Dir, seq.Tokens);
            for (int p = 0; p < seq.Tokens.Length; p++)
            {
                var row = logits.AsSpan(p * vocab, vocab);
                var golden = seq.Positions[p];
                double scale = Math.Max(1.0, golden.TopLogits.Max(Math.Abs));
                worst = Math.Max(worst, Check(golden.LogSumExp, LogSumExp(row), scale, $"logsumexp at position {p}"));
                for (int k = 0; k < golden.TopIds.Length; k++)
                    worst = Math.Max(worst, Check(golden.TopLogits[k], row[golden.TopIds[k]], scale, $"logit {golden.TopIds[k]} at position {p}"));
                Assert.Equal(golden.TopIds[0], LogitComparison.ArgMax(row));
            }
            if (seq.LastPositionLogits is { } full)
            {
                var last = logits.AsSpan((seq.Tokens.Length - 1) * vocab, vocab);
                Assert.Equal(full.Length, last.Length);
                double scale = Math.Max(1.0, full.Max(Math.Abs));
                for (int i = 0; i < full.Length; i++)
                    worst = Math.Max(worst, Check(full[i], last[i], scale, $"logit {i} at the last position"));
            }
        }
        output.WriteLine($"largest logit error relative to the position's largest |logit|: {worst:E2} (bound {RelativeLogitTolerance:E0})");
    }

    [Fact]
    public void GreedyContinuationMatchesTorch()
    {
        var g = TrainedFixture.Goldens;
        using var ir = ModelOpener.Open(TrainedFixture.Dir);
        using var t = new Transformer(ir, new ExecutorOptions { Threads = 1, QuantPath = QuantPath.Exact, MaxContext = g.GreedyPromptIds.Length + g.GreedyIds.Length });
        var ids = new Generator(t, new Sampler(ir.Config.VocabSize)).Generate(g.GreedyPromptIds, g.GreedyIds.Length, stopToken: null).ToArray();
        output.WriteLine($"smallest top-2 margin along torch's greedy path: {g.GreedyMinMargin:F4} logits");
        Assert.Equal(g.GreedyIds, ids);
    }

    /// <summary>
    /// The main job on a trained model: `hf2mobile` with its defaults (int4 weights, 8-bit embedding)
    /// must pass `verify` at its default max-KL of 0.1 nats. The tokens are Psalm 23:1-3 as the
    /// checkpoint's own sentencepiece model tokenizes it (goldens), so the check measures the weights
    /// on in-domain text and does not depend on our tokenizer.
    /// </summary>
    [Fact]
    public void DefaultBundlePassesVerify()
    {
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        var r = CliRunner.Run("hf2mobile", TrainedFixture.Dir, "-o", bundle);
        Assert.True(r.ExitCode == 0, r.ToString());
        var psalm = TrainedFixture.Goldens.Tokenization.Single(t => t.Text.StartsWith("The LORD is my shepherd", StringComparison.Ordinal)).Ids;
        var v = CliRunner.Run("verify", bundle, "--reference", TrainedFixture.Dir, "--tokens", string.Join(',', psalm), "--json");
        Assert.True(v.ExitCode == 0, v.ToString());
        using var doc = JsonDocument.Parse(v.Stdout);
        var m = doc.RootElement;
        output.WriteLine($"default (q4) bundle on {psalm.Length} tokens: top-1 {m.GetProperty("top1_agreement").GetDouble():P1}, " +
                         $"mean KL {m.GetProperty("mean_kl").GetDouble():E3}, max KL {m.GetProperty("max_kl").GetDouble():E3}");
    }

    private static double Check(double expected, double actual, double scale, string what)
    {
        double rel = Math.Abs(actual - expected) / scale;
        Assert.True(rel <= RelativeLogitTolerance, $"{what}: {actual} vs torch {expected} (error {rel:E2} of {scale:F3})");
        return rel;
    }

    private static double LogSumExp(ReadOnlySpan<float> row)
    {
        double max = double.NegativeInfinity;
        foreach (var x in row) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in row) sum += Math.Exp(x - max);
        return max + Math.Log(sum);
    }
}
