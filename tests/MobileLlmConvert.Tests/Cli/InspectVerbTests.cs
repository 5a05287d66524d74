using System.Text.Json;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Cli;

/// <summary>`inspect` on a bundle shows its manifest and check first; `--no-tensors` leaves the table out.</summary>
public sealed class InspectVerbTests
{
    private static string Tiny => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "models", "llama-tiny");

    private static string Bundle(TempDir dir)
    {
        var r = CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"], "--quant", "q8");
        Assert.True(r.ExitCode == 0, r.ToString());
        return dir["b"];
    }

    [Fact]
    public void ABundleShowsItsManifestAndVerificationBeforeTheModel()
    {
        using var dir = new TempDir();
        string bundle = Bundle(dir);
        var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(bundle, "manifest.json"))).RootElement;
        var file = manifest.GetProperty("files")[0];

        var r = CliRunner.Run("inspect", bundle, "--no-tensors");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Stdout.Split(Environment.NewLine);
        Assert.Equal(
        [
            $"bundle: {bundle}",
            $"  manifest: mlconvert-mobile-bundle v1, tool {manifest.GetProperty("tool_version").GetString()}, family Llama (LlamaForCausalLM)",
            $"  source checkpoint sha256: {manifest.GetProperty("source_checkpoint_sha256").GetString()}",
            "  options: dedup=true, fold_gqa=true, group_size=32, quant=q8, rounding=search, tie=true",
            "  parameters: 39,072 stored, 39,072 executed",
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"  file: model.mlcm ({file.GetProperty("bytes").GetInt64():N0} bytes, sha256 {file.GetProperty("sha256").GetString()})"),
            "  verification: OK (names, types, sizes and sha256 match the manifest; no unlisted file)",
            $"{bundle} (bundle)",
        ], lines.Take(8));
        Assert.DoesNotContain("tensors:", lines);

        var full = CliRunner.Run("inspect", bundle);
        Assert.Contains("tensors:", full.Stdout.Split(Environment.NewLine));
    }

    [Fact]
    public void ABundleThatFailsItsCheckIsShownThenRefused()
    {
        using var dir = new TempDir();
        string bundle = Bundle(dir);
        string model = Path.Combine(bundle, "model.mlcm");
        long size = new FileInfo(model).Length;
        File.AppendAllText(model, "x");

        var r = CliRunner.Run("inspect", bundle);
        Assert.Equal(2, r.ExitCode);
        string expected = $"{bundle}/manifest.json: files[0].bytes = {size}: model.mlcm has {size + 1} bytes";
        Assert.Equal($"mlconvert: error: {expected}{Environment.NewLine}", r.Stderr);
        var lines = r.Stdout.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"bundle: {bundle}", lines[0]);
        Assert.Equal($"  verification: FAILED: {expected}", lines[^1]);
        Assert.DoesNotContain(lines, l => l.StartsWith("family:", StringComparison.Ordinal));
    }

    [Fact]
    public void NoTensorsLeavesTheTableOutOfTheJsonToo()
    {
        var r = CliRunner.Run("inspect", Tiny, "--json", "--no-tensors");
        Assert.True(r.ExitCode == 0, r.ToString());
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.False(root.TryGetProperty("tensors", out _));
        Assert.Equal(39072, root.GetProperty("parameters").GetProperty("stored").GetInt64());
        var all = JsonDocument.Parse(CliRunner.Run("inspect", Tiny, "--json").Stdout).RootElement;
        Assert.Equal(21, all.GetProperty("tensors").GetArrayLength());
    }
}
