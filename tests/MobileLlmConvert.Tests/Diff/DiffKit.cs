using System.Text.Json;
using MobileLlmConvert.Tests.Trained;

namespace MobileLlmConvert.Tests.Diff;

/// <summary>Candidates of the trained fixture the diff tests share, built once per test class run.</summary>
internal static class DiffKit
{
    public static string Reference => TrainedFixture.Dir;

    /// <summary>Psalm 23:1-3 and "And God said" as the trainer's sentencepiece model tokenizes them: ids that do not depend on our tokenizer.</summary>
    public static int[] Tokens { get; } = TrainedFixture.Goldens.Tokenization.SelectMany(t => t.Ids).Take(48).ToArray();

    public static string Bundle(TempDir dir, string name, params string[] options)
    {
        string path = dir.File(name);
        var r = CliRunner.Run(["hf2mobile", Reference, "-o", path, .. options]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return path;
    }

    public static JsonElement Json(CliResult r)
    {
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.Clone();
    }

    public static string Ids(IEnumerable<int> ids) => string.Join(',', ids);
}
