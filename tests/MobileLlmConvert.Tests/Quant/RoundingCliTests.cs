using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Tests.EndToEnd;
using MobileLlmConvert.Tests.TestSupport;

namespace MobileLlmConvert.Tests.Quant;

// Inside the namespace so it wins over the library facade MobileLlmConvert.Models.
using Models = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>`--rounding search|rtn` on hf2mobile: recorded in the manifest, different bytes, deterministic reruns.</summary>
public class RoundingCliTests
{
    private static (byte[] Model, BundleManifest Manifest) Bundle(TempDir dir, string name, params string[] extra)
    {
        var r = CliRunner.Run(["hf2mobile", Models.Path("llama-tiny"), "-o", dir[name], "--quant", "q5_1", .. extra]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var manifest = BundleManifest.Parse(File.ReadAllBytes(Path.Combine(dir[name], MobileBundle.ManifestFileName)), "manifest.json");
        return (File.ReadAllBytes(Path.Combine(dir[name], MobileBundle.ModelFileName)), manifest);
    }

    [Fact]
    public void Search_is_the_default_rtn_is_recorded_and_each_rerun_is_byte_identical()
    {
        using var dir = new TempDir();
        var (search, searchManifest) = Bundle(dir, "search");
        var (again, _) = Bundle(dir, "again");
        var (rtn, rtnManifest) = Bundle(dir, "rtn", "--rounding", "rtn");
        Assert.Equal("search", searchManifest.Options["rounding"]);
        Assert.Equal("rtn", rtnManifest.Options["rounding"]);
        Assert.Equal("q5_1", rtnManifest.Options["quant"]);
        Assert.Equal(search, again);
        Assert.NotEqual(search, rtn);
    }

    [Fact]
    public void An_unknown_rounding_is_refused()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("hf2mobile", Models.Path("llama-tiny"), "-o", dir["b"], "--rounding", "stochastic");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--rounding stochastic: expected search or rtn", r.Stderr);
        Assert.False(Directory.Exists(dir["b"]));
    }
}
