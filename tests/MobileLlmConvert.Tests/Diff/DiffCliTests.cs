using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Diff;

/// <summary>`diff` as CI uses it: gates, exit codes, the JSON schema documented in docs/diff.md, the default text.</summary>
public sealed partial class DiffCliTests
{
    [Fact]
    public void GatesExitOneAndNameOnlyTheFailingCandidate()
    {
        using var dir = new TempDir();
        string q4 = DiffKit.Bundle(dir, "q4"), q8 = DiffKit.Bundle(dir, "q8", "--quant", "q8");
        var ids = DiffKit.Ids(DiffKit.Tokens);
        var measured = DiffKit.Json(CliRunner.Run("diff", DiffKit.Reference, q4, q8, "--tokens", ids, "--json")).GetProperty("candidates");
        double q4Kl = measured[0].GetProperty("kl").GetProperty("mean").GetDouble(), q8Kl = measured[1].GetProperty("kl").GetProperty("mean").GetDouble();
        Assert.True(q8Kl < q4Kl, $"q8 {q8Kl} vs q4 {q4Kl}");
        string between = ((q4Kl + q8Kl) / 2).ToString("R", System.Globalization.CultureInfo.InvariantCulture);

        var text = CliRunner.Run("diff", DiffKit.Reference, q4, q8, "--tokens", ids, "--max-kl", between);
        Assert.Equal(1, text.ExitCode);
        var fail = text.Stdout.Split('\n').Single(l => l.StartsWith("FAIL: ", StringComparison.Ordinal));
        Assert.StartsWith($"FAIL: {q4} (mean KL ", fail);
        Assert.DoesNotContain(q8, fail);

        var json = CliRunner.Run("diff", DiffKit.Reference, q4, q8, "--tokens", ids, "--max-kl", between, "--json");
        Assert.Equal(1, json.ExitCode);
        var doc = DiffKit.Json(json);
        Assert.False(doc.GetProperty("pass").GetBoolean());
        Assert.Equal([q4], doc.GetProperty("failed").EnumerateArray().Select(f => f.GetString()));
        Assert.False(doc.GetProperty("candidates")[0].GetProperty("pass").GetBoolean());
        Assert.True(doc.GetProperty("candidates")[1].GetProperty("pass").GetBoolean());

        Assert.Equal(0, CliRunner.Run("diff", DiffKit.Reference, q4, q8, "--tokens", ids, "--max-kl", "1", "--min-top1", "0").ExitCode);
        var top1 = CliRunner.Run("diff", DiffKit.Reference, q8, "--tokens", ids, "--min-top1", "1", "--max-kl", "1");
        double agreement = measured[1].GetProperty("top1_agreement").GetDouble();
        Assert.Equal(agreement < 1 ? 1 : 0, top1.ExitCode);
        var bad = CliRunner.Run("diff", DiffKit.Reference, q8, "--tokens", ids, "--min-top1", "2");
        Assert.Equal(2, bad.ExitCode);
        Assert.Equal("mlconvert: error: --min-top1: 2 must be between 0 and 1", bad.Stderr.TrimEnd());
    }

    /// <summary>Every field of a real document (every option on) is in docs/diff.md's field table, and every documented field is in the document.</summary>
    [Fact]
    public void JsonHasExactlyTheFieldsDocsDiffMdLists()
    {
        using var dir = new TempDir();
        string q4 = DiffKit.Bundle(dir, "q4");
        var r = CliRunner.Run("diff", DiffKit.Reference, q4, "--tokens", DiffKit.Ids(DiffKit.Tokens), "--per-layer", "--per-tensor", "--generate", "4", "--max-kl", "1", "--min-top1", "0", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        var actual = new SortedSet<string>(StringComparer.Ordinal);
        Paths(DiffKit.Json(r), "", actual);
        var doc = File.ReadAllText(Path.Combine(FixtureCatalog.RepoRoot, "docs", "diff.md"));
        var documented = new SortedSet<string>(FieldRow().Matches(doc).Select(m => m.Groups[1].Value), StringComparer.Ordinal);
        Assert.Equal(documented, actual);
        var root = DiffKit.Json(r);
        Assert.Equal("mlconvert/1", root.GetProperty("schema").GetString());
        Assert.Equal("diff", root.GetProperty("verb").GetString());
        Assert.Equal(["schema", "verb"], root.EnumerateObject().Take(2).Select(p => p.Name));
    }

    [Fact]
    public void DefaultTextIsTheCommittedFileAndIsScoredWhenNoTextIsGiven()
    {
        string file = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "text", "devils-dictionary-a-b.txt");
        Assert.Equal(File.ReadAllText(file), EvaluationText.Default);
        Assert.Equal("c8bb07545e48563c77220c5323191c6aaec98cb22368e59593dc3acbba6c7ecc", Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))));
        var r = CliRunner.Run("diff", DiffKit.Reference, DiffKit.Reference, "--max-tokens", "300", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        var doc = DiffKit.Json(r);
        Assert.Equal(EvaluationText.DefaultName, doc.GetProperty("text").GetString());
        Assert.Equal(300, doc.GetProperty("tokens_scored").GetInt32());
        Assert.Equal(256, doc.GetProperty("context").GetInt32());
        var self = doc.GetProperty("candidates")[0];
        Assert.Equal(0, self.GetProperty("kl").GetProperty("max").GetDouble());
        Assert.Equal(1, self.GetProperty("top1_agreement").GetDouble());
    }

    [Fact]
    public void RerunsPrintTheSameDocumentApartFromSeconds()
    {
        using var dir = new TempDir();
        string q4 = DiffKit.Bundle(dir, "q4");
        string Run() => Seconds().Replace(CliRunner.Run("diff", DiffKit.Reference, q4, "--tokens", DiffKit.Ids(DiffKit.Tokens), "--per-layer", "--json").Stdout, "");
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void AnIncompatibleCandidateIsAUsageError()
    {
        string other = FixtureCatalog.Get("llama-tiny").CommittedPath;
        var r = CliRunner.Run("diff", DiffKit.Reference, other, "--tokens", "1,2,3");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith($"mlconvert: error: {other}: vocabulary of ", r.Stderr);
    }

    private static void Paths(JsonElement e, string prefix, ISet<string> paths)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    string path = prefix.Length == 0 ? p.Name : prefix + "." + p.Name;
                    paths.Add(path);
                    Paths(p.Value, path, paths);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray()) Paths(item, prefix + "[]", paths);
                break;
        }
    }

    /// <summary>A row of docs/diff.md's field table: | `candidates[].kl.mean` | ...</summary>
    [GeneratedRegex(@"^\| `([a-z0-9_.\[\]]+)` \|", RegexOptions.Multiline)]
    private static partial Regex FieldRow();

    [GeneratedRegex(@"""seconds"": [0-9.eE+-]+")]
    private static partial Regex Seconds();
}
