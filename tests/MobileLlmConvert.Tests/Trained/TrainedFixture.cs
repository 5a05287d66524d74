using System.Text.Json;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Trained;

/// <summary>
/// The trained MobileLLM-LS-shaped checkpoint (testdata/models/mobilellm-ls-trained, saved as the Hub
/// does: pytorch_model.bin, tokenizer.model, the 141-byte tokenizer_config.json) and the goldens its
/// training script computed with a float64 torch forward (testdata/trained/train.py).
/// </summary>
internal static class TrainedFixture
{
    public static string Dir { get; } = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "models", "mobilellm-ls-trained");
    public static string ScriptDir { get; } = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "trained");

    public static Goldens Goldens { get; } = Goldens.Load(Path.Combine(ScriptDir, "goldens.json"));
}

/// <summary>One golden position: logsumexp of the float64 logits and the top-8 ids with their logits.</summary>
internal sealed record GoldenPosition(double LogSumExp, int[] TopIds, double[] TopLogits);

/// <summary>A golden token sequence; the first also carries the full logits of its last position.</summary>
internal sealed record GoldenSequence(int[] Tokens, GoldenPosition[] Positions, double[]? LastPositionLogits);

internal sealed record Goldens(
    IReadOnlyList<(string Text, int[] Ids)> Tokenization,
    IReadOnlyList<GoldenSequence> Logits,
    int[] GreedyPromptIds,
    int[] GreedyIds,
    double GreedyMinMargin)
{
    public static Goldens Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        var tokenization = root.GetProperty("tokenization").EnumerateArray()
            .Select(e => (e.GetProperty("text").GetString()!, Ints(e.GetProperty("ids")))).ToList();
        var logits = root.GetProperty("logits").EnumerateArray().Select(seq => new GoldenSequence(
            Ints(seq.GetProperty("tokens")),
            seq.GetProperty("positions").EnumerateArray().Select(p => new GoldenPosition(
                p.GetProperty("logsumexp").GetDouble(), Ints(p.GetProperty("top_ids")), Doubles(p.GetProperty("top_logits")))).ToArray(),
            seq.TryGetProperty("last_position_logits", out var full) ? Doubles(full) : null)).ToList();
        var greedy = root.GetProperty("greedy");
        return new Goldens(tokenization, logits, Ints(greedy.GetProperty("prompt_ids")), Ints(greedy.GetProperty("ids")),
            greedy.GetProperty("min_top2_margin").GetDouble());
    }

    private static int[] Ints(JsonElement a) => a.EnumerateArray().Select(e => e.GetInt32()).ToArray();
    private static double[] Doubles(JsonElement a) => a.EnumerateArray().Select(e => e.GetDouble()).ToArray();
}
