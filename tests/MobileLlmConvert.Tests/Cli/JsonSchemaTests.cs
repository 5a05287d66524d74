using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Cli;

/// <summary>
/// Every verb's real `--json` output, run on committed fixtures, validated against
/// docs/json.schema.json (JsonSchema.Net, draft 2020-12): one document on stdout, `schema` and `verb`
/// first, the shared names (input, output, format, bytes, parameters) and nothing the schema does not
/// list. One case per verb (and per error class), so a verb that drifts fails by name.
/// </summary>
public sealed class JsonSchemaTests
{
    private static string Models(string name) => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "models", name);
    private static string Tiny => Models("llama-tiny");
    private static string SmolLm => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "tokenizers", "smollm2-tiny");

    private static readonly Lazy<JsonSchema> Schema = new(() =>
        JsonSchema.FromText(File.ReadAllText(Path.Combine(FixtureCatalog.RepoRoot, "docs", "json.schema.json"))));

    public static TheoryData<string> Cases() =>
    [
        "inspect", "inspect-raw-torch", "inspect-no-tensors", "inspect-bundle", "logits", "generate", "convert-gguf", "convert-mobile", "convert-onnx",
        "hf2mobile", "hf2mobile-max-kl", "convert-target-size", "verify", "verify-bundle-only", "diff", "bench", "synth", "tokenize",
        "error-usage", "error-bad-file", "error-missing-file", "error-misspelled-verb", "error-misspelled-option",
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryVerbsJsonMatchesTheSchema(string name)
    {
        using var dir = new TempDir();
        var (args, verb, exit) = Build(name, dir);
        var r = CliRunner.Run([.. args, "--json"]);
        Assert.True(r.ExitCode == exit, r.ToString());

        var node = JsonNode.Parse(r.Stdout) ?? throw new Xunit.Sdk.XunitException("stdout is JSON null");
        var root = node.AsObject();
        Assert.Equal(["schema", "verb"], root.Select(p => p.Key).Take(2));
        Assert.Equal("mlconvert/1", (string?)root["schema"]);
        Assert.Equal(verb, (string?)root["verb"]);
        if (exit != 0)
        {
            Assert.Equal(exit, (int?)root["exit"]);
            Assert.Equal(r.Stderr, "mlconvert: error: " + ErrorText(root["error"]!.AsObject()) + Environment.NewLine);
        }

        var result = Schema.Value.Evaluate(node, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, name + ": " + string.Join("; ", Failures(result)) + "\n" + r.Stdout);
    }

    /// <summary>The stderr line rebuilt from the error document: both say the same thing.</summary>
    private static string ErrorText(JsonObject e)
    {
        string? file = (string?)e["file"], field = (string?)e["field"], value = (string?)e["value"];
        string where = file is null ? "" : file + ": ";
        string what = field is null ? "" : value is null ? field + ": " : $"{field} = {value}: ";
        return where + what + (string?)e["message"];
    }

    private static IEnumerable<string> Failures(EvaluationResults r) =>
        r.Details.Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"));

    private static (string[] Args, string? Verb, int Exit) Build(string name, TempDir dir)
    {
        switch (name)
        {
            case "inspect": return (["inspect", Tiny], "inspect", 0);
            case "inspect-raw-torch": return (["inspect", "--raw", Path.Combine(FixtureCatalog.RepoRoot, "testdata", "torch", "mobillama-sharded-bin")], "inspect", 0);
            case "inspect-no-tensors": return (["inspect", Models("mobilellm-ls-tiny"), "--no-tensors"], "inspect", 0);
            case "inspect-bundle": return (["inspect", Bundle(dir)], "inspect", 0);
            case "logits": return (["logits", Tiny, "--tokens", "1,17,40"], "logits", 0);
            case "generate": return (["generate", Tiny, "--prompt", "hi", "--max-tokens", "3"], "generate", 0);
            case "convert-gguf": return (["convert", Models("mobilellm-tiny"), "--to", "gguf", "-o", dir["m.gguf"]], "convert", 0);
            case "convert-mobile": return (["convert", Tiny, "--to", "mobile", "-o", dir["m.mlcm"]], "convert", 0);
            case "convert-onnx": return (["convert", Models("mobilellm-ls-tiny"), "--to", "onnx", "-o", dir["onnx"]], "convert", 0);
            case "hf2mobile": return (["hf2mobile", Tiny, "-o", dir["bundle"]], "hf2mobile", 0);
            case "hf2mobile-max-kl": return (["hf2mobile", Models("mobilellm-ls-trained"), "-o", dir["bundle"], "--max-kl", "0.002", "--eval-tokens", "64"], "hf2mobile", 0);
            case "convert-target-size": return (["convert", Models("mobilellm-ls-trained"), "--to", "gguf", "-o", dir["m.gguf"], "--target-size", "0.9MB", "--eval-tokens", "64"], "convert", 0);
            case "verify": return (["verify", Bundle(dir), "--reference", Tiny, "--tokens", "1,17,40"], "verify", 0);
            case "verify-bundle-only": return (["verify", Bundle(dir), "--bundle-only"], "verify", 0);
            case "diff": return (["diff", Tiny, Bundle(dir), "--tokens", "1,17,40,263", "--per-layer", "--per-tensor"], "diff", 0);
            case "bench": return (["bench", Tiny, "--prompt-tokens", "4", "--gen-tokens", "2", "--threads", "1"], "bench", 0);
            case "synth": return (["synth", "--preset", "tiny-mobilellm", "-o", dir["ckpt"]], "synth", 0);
            case "tokenize": return (["tokenize", SmolLm, "--text", "Hello world"], "tokenize", 0);
            case "error-usage": return (["logits", Tiny, "--tokens", "1,999"], "logits", 2);
            case "error-bad-file":
                File.WriteAllBytes(dir["bad.gguf"], "GGUX\0\0\0\0\0\0\0\0"u8.ToArray());
                return (["inspect", dir["bad.gguf"]], "inspect", 2);
            case "error-missing-file": return (["inspect", dir["missing"]], "inspect", 2);
            case "error-misspelled-verb": return (["convrt", Tiny], null, 2);
            default: return (["inspect", Tiny, "--no-tensor"], "inspect", 2);
        }
    }

    private static string Bundle(TempDir dir)
    {
        var r = CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return dir["b"];
    }

    /// <summary>The documented shapes of the shared names hold in every verb that has them (not only where the schema is loose).</summary>
    [Fact]
    public void TheSameThingHasTheSameNameInEveryVerb()
    {
        using var dir = new TempDir();
        var inspect = Json(CliRunner.Run("inspect", Tiny, "--json"));
        var convert = Json(CliRunner.Run("convert", Tiny, "--to", "gguf", "-o", dir["m.gguf"], "--json"));
        var bundle = Json(CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"], "--json"));
        foreach (var doc in new[] { inspect, convert, bundle })
        {
            Assert.Equal(Tiny, doc.GetProperty("input").GetString());
            Assert.Equal("huggingface", doc.GetProperty("format").GetProperty("input").GetString());
        }
        Assert.Equal("gguf", convert.GetProperty("format").GetProperty("output").GetString());
        Assert.Equal("bundle", bundle.GetProperty("format").GetProperty("output").GetString());
        // bytes.stored is what the model read stores; inspect and convert of one checkpoint agree.
        long stored = inspect.GetProperty("bytes").GetProperty("stored").GetInt64();
        Assert.Equal(stored, convert.GetProperty("bytes").GetProperty("stored").GetInt64());
        Assert.Equal(new FileInfo(dir["m.gguf"]).Length, convert.GetProperty("bytes").GetProperty("written").GetInt64());
        Assert.Equal(new FileInfo(Path.Combine(dir["b"], "model.mlcm")).Length, bundle.GetProperty("bytes").GetProperty("written").GetInt64());
        Assert.Equal(inspect.GetProperty("parameters").GetProperty("stored").GetInt64(), convert.GetProperty("parameters").GetProperty("stored").GetInt64());
    }

    private static JsonElement Json(CliResult r)
    {
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.Stdout).RootElement.Clone();
    }
}
