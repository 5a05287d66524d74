using System.Text.Json;
using MobileLlmConvert.Cli.Verbs;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Library;

using Fixtures = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>The CLI and the library agree on defaults; `--dry-run` writes nothing.</summary>
public sealed class DefaultsAndDryRunTests
{
    private static string Tiny => Fixtures.Path("mobilellm-ls-tiny");

    /// <summary>The constants both sides use, compared where each side declares its default.</summary>
    [Fact]
    public void Cli_defaults_equal_the_library_constants()
    {
        Assert.Equal(GgufWriteOptions.DefaultFloatType, new GgufWriteOptions().FloatType);
        Assert.Equal(GgufWriteOptions.DefaultFloatType, new WriteOptions().FloatType);
        Assert.Equal(GgufWriteOptions.DefaultFloatType, FormatWriteOptions.Default.FloatType);
        Assert.Equal(Hf2MobileVerb.DefaultQuant, ModelFormats.Get("bundle").DefaultQuant);
        Assert.Equal(Hf2MobileVerb.DefaultQuant, ModelFormats.Get("mobile").DefaultQuant);
        Assert.Null(ModelFormats.Get("gguf").DefaultQuant);
        Assert.Equal(ExecutorOptions.DefaultQuantPath, new ExecutorOptions().QuantPath);
        Assert.Equal(ExecutorOptions.GenerationQuantPath, new BenchOptions().QuantPath);
        var help = CliRunner.Run("convert", "--help").Stdout;
        Assert.Contains($"(default {GgufWriteOptions.DefaultFloatType.Info().Name})", help);
    }

    /// <summary>
    /// Behaviour, not just constants: `convert` with no type options writes the same bytes as the
    /// library with default options, for every writable single-file target (GGUF: f16 floats;
    /// mobile: q4).
    /// </summary>
    [Theory]
    [InlineData("gguf")]
    [InlineData("mobile")]
    public void Convert_without_options_writes_what_the_library_writes_by_default(string target)
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("convert", Tiny, "--to", target, "-o", dir["cli.out"]).ExitCode);
        using (var ir = Models.Open(Tiny))
        using (var conv = Pipeline.Run(ir, new ConvertOptions { Target = target }))
        {
            Models.Write(conv.Result, dir["lib.out"], new WriteOptions { Format = target, ModelName = Path.GetFileName(Tiny) });
        }
        Assert.Equal(File.ReadAllBytes(dir["cli.out"]), File.ReadAllBytes(dir["lib.out"]));
    }

    [Theory]
    [InlineData("convert", "gguf")]
    [InlineData("convert", "bundle")]
    [InlineData("hf2mobile", null)]
    public void Dry_run_prints_the_plan_and_creates_nothing(string verb, string? target)
    {
        using var dir = new TempDir();
        string output = dir["out" + (target == "gguf" ? ".gguf" : "")];
        string[] args = target is null ? [verb, Tiny, "-o", output, "--dry-run"] : [verb, Tiny, "--to", target, "-o", output, "--dry-run"];
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.False(Path.Exists(output));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
        Assert.Contains("nothing written", r.Stdout);

        using var ir = Models.Open(Tiny);
        var plan = Pipeline.Plan(ir, new ConvertOptions { Target = target ?? "bundle" });
        foreach (var t in plan.Tensors) Assert.Contains(t.Key, r.Stdout);
        Assert.Contains($"total: {plan.Tensors.Count} stored tensors", r.Stdout);
    }

    [Fact]
    public void Dry_run_json_follows_the_contract_and_creates_nothing()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("hf2mobile", Tiny, "-o", dir["bundle"], "--dry-run", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.False(Path.Exists(dir["bundle"]));
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        var names = root.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["schema", "verb"], names.Take(2));
        Assert.Equal("mlconvert/1", root.GetProperty("schema").GetString());
        Assert.Equal("hf2mobile", root.GetProperty("verb").GetString());
        Assert.True(root.GetProperty("dry_run").GetBoolean());
        Assert.Equal("huggingface", root.GetProperty("format").GetProperty("input").GetString());
        Assert.Equal("bundle", root.GetProperty("format").GetProperty("output").GetString());

        using var ir = Models.Open(Tiny);
        var plan = Pipeline.Plan(ir, new ConvertOptions { Target = "bundle" });
        var tensors = root.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal(plan.Tensors.Select(t => (t.Key, t.Type, t.Bytes)), tensors.Select(t => (t.GetProperty("name").GetString()!, t.GetProperty("type").GetString()!, t.GetProperty("bytes").GetInt64())));
        Assert.Equal(plan.StoredBytes, root.GetProperty("planned_bytes").GetInt64());
        Assert.Equal(ir.StoredBytes, root.GetProperty("bytes").GetProperty("stored").GetInt64());
        // The LS fixture's repeated blocks are merged once, and the int4 default reaches the matrices.
        Assert.Contains(tensors, t => t.GetProperty("type").GetString()!.StartsWith("q4", StringComparison.Ordinal));
    }

    /// <summary>The library reports the long stages through the caller's IProgress: hash, passes, write.</summary>
    [Fact]
    public void Progress_reports_hash_passes_and_write()
    {
        using var dir = new TempDir();
        var stages = new List<string>();
        var progress = new SyncProgress(p => { if (stages.Count == 0 || stages[^1] != p.Stage) stages.Add(p.Stage); });
        using var ir = Models.Open(Tiny);
        string? sha = Models.CheckpointSha256(ir, progress);
        using var conv = Pipeline.Run(ir, new ConvertOptions { Target = "bundle", Progress = progress });
        var w = Models.Write(conv.Result, dir["b"], new WriteOptions { Format = "bundle", SourceCheckpointSha256 = sha, Progress = progress });
        Assert.Equal(["hash", "passes", "write"], stages);
        Assert.Equal(sha, w.Manifest!.SourceCheckpointSha256);
    }

    private sealed class SyncProgress(Action<ConversionProgress> report) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value) => report(value);
    }
}
