using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.Oracles;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.EndToEnd;

/// <summary>
/// The sharing issue's acceptance checks on the committed checkpoints that store something twice
/// (or claim what is not so): same logits with the passes on and off, llama.cpp agreement on the
/// GGUF, stored parameters equal to the unique weights, and a report that says what happened.
/// </summary>
public sealed class SharingTests(ITestOutputHelper output)
{
    /// <summary>Tiny fixture dimensions (FixtureCatalog): hidden 32, intermediate 64, head dim 8, vocab 320.</summary>
    private const int H = 32, I = 64, Hd = 8, V = 320;

    /// <summary>
    /// Unique weights counted from the architecture alone, not from any IR: embedding, optional head,
    /// per distinct attention block q/k/v/o and two norms, per distinct FFN gate/up/down, final norm.
    /// </summary>
    private static long Unique(int attentionBlocks, int ffns, int heads, int kvHeads, bool tied) =>
        (long)V * H * (tied ? 1 : 2)
        + attentionBlocks * ((long)heads * Hd * H * 2 + (long)kvHeads * Hd * H * 2 + 2L * H)
        + ffns * 3L * H * I
        + H;

    public static TheoryData<string, long, string> Cases => new()
    {
        { "mobilellm-ls-copied", Unique(2, 2, 4, 2, tied: true), "blocks model.layers.{1,3}.* are whole copies of model.layers.{0,2}.*" },
        { "mobillama-ffn-copies", Unique(3, 1, 4, 4, tied: false), "model.layers.0.mlp.gate_proj.weight is also stored as model.layers.{1,2}.mlp.gate_proj.weight" },
        { "llama-mha-repeated-kv", Unique(2, 2, 4, 2, tied: false), "folded n_kv 4 -> 2" },
        { "llama-untied-claims-tied", Unique(2, 2, 4, 2, tied: false), "config flag tie_word_embeddings claims a tied head, but lm_head.weight differs" },
        // MobileLLM's share_embedding: the importer drops the stored head (the model code never reads it) and says whether it was equal.
        { "mobilellm-with-lm-head", Unique(2, 2, 4, 2, tied: true), "the stored lm_head.weight (bf16 [320, 32]) is ignored and dropped: it is byte-identical to the embedding" },
        { "mobillama-unshared", Unique(3, 3, 4, 4, tied: false), "per-layer FFNs, not shared" },
        { "mobilellm-ls-tiny", Unique(2, 2, 4, 2, tied: true), "head already tied" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void InspectCountsUniqueWeightsAndConvertReportsWhatHappened(string fixture, long uniqueWeights, string reported)
    {
        var inspect = CliRunner.Run("inspect", Models.Path(fixture), "--json");
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        using var doc = JsonDocument.Parse(inspect.Stdout);
        Assert.Equal(uniqueWeights, doc.RootElement.GetProperty("parameters").GetProperty("stored").GetInt64());

        using var dir = new TempDir();
        var convert = CliRunner.Run("convert", Models.Path(fixture), "--to", "gguf", "--dtype", "f32", "-o", dir.File("m.gguf"), "--json");
        Assert.True(convert.ExitCode == 0, convert.ToString());
        using var report = JsonDocument.Parse(convert.Stdout);
        var texts = report.RootElement.GetProperty("passes").GetProperty("reports").EnumerateArray()
            .SelectMany(r => r.GetProperty("notes").EnumerateArray().Concat(r.GetProperty("warnings").EnumerateArray()))
            .Concat(report.RootElement.GetProperty("notes").EnumerateArray())
            .Select(e => e.GetString()!).ToList();
        Assert.Contains(texts, t => t.Contains(reported, StringComparison.Ordinal));
        var totals = report.RootElement.GetProperty("passes").GetProperty("totals");
        output.WriteLine($"{fixture}: stored {totals.GetProperty("parameters_before").GetInt64():N0} -> {totals.GetProperty("parameters_after").GetInt64():N0} parameters, " +
                         $"{totals.GetProperty("bytes_before").GetInt64():N0} -> {totals.GetProperty("bytes_after").GetInt64():N0} bytes");
        Assert.Equal(uniqueWeights, report.RootElement.GetProperty("parameters").GetProperty("stored").GetInt64());
    }

    /// <summary>The passes only change how weights are stored: F32 logits are bit-identical with them on and off.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsAreBitIdenticalWithThePassesOnAndOff(string fixture, long uniqueWeights, string reported)
    {
        _ = (uniqueWeights, reported);
        using var raw = ModelOpener.Open(Models.Path(fixture));
        var shared = SharingPipeline.Run(raw);
        var options = new ExecutorOptions { Threads = 1, MaxContext = Models.Tokens.Length };
        float[] before, after;
        using (var t = new Transformer(raw, options)) before = t.Forward(Models.Tokens);
        using (var t = new Transformer(shared.Ir, options)) after = t.Forward(Models.Tokens);
        Assert.Equal(before, after);
    }

    /// <summary>llama.cpp still agrees once shared blocks are written once per executed step and read back shared.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void LlamaCppAgreesOnTheGgufOfTheSharedModel(string fixture, long uniqueWeights, string reported)
    {
        _ = (uniqueWeights, reported);
        using var dir = new TempDir();
        string gguf = dir.File("m.gguf");
        Assert.Equal(0, CliRunner.Run("convert", Models.Path(fixture), "--to", "gguf", "--dtype", "f32", "-o", gguf).ExitCode);
        var (ours, vocab) = Models.Logits(Models.Path(fixture), Models.Tokens);
        var theirs = LlamaCppOracle.Probabilities(gguf, Models.Tokens);
        double max = 0;
        for (int p = 0; p < Models.Tokens.Length; p++)
        {
            var expected = LogitComparison.Softmax(ours.AsSpan(p * vocab, vocab));
            for (int i = 0; i < vocab; i++) max = Math.Max(max, Math.Abs(expected[i] - theirs.Probabilities[p][i]));
        }
        output.WriteLine($"{fixture}: max |p_llama.cpp - p_ours| = {max:E3}");
        Assert.True(max <= 2e-4, $"{fixture}: {max:E3}");

        // Read back, the GGUF is the shared model again, not the one-copy-per-step file llama.cpp needs.
        using var back = ModelOpener.Open(gguf);
        Assert.Equal(uniqueWeights, back.StoredParameters);
    }
}
