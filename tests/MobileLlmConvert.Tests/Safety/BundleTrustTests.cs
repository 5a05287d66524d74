using System.Text;
using static MobileLlmConvert.Tests.Safety.SafetyKit;

namespace MobileLlmConvert.Tests.Safety;

/// <summary>
/// Issue 9 item 2: a bundle whose manifest lies is refused by every verb that opens it (exit 2, one
/// line naming the manifest field), and `verify --bundle-only` checks a bundle for CI without running it.
/// </summary>
public sealed class BundleTrustTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var lie in new[] { "zero-sha", "dotdot-path", "unlisted-file", "model-symlink", "model-fifo" })
        {
            foreach (var verb in new[] { "inspect", "verify", "verify-bundle-only", "generate", "convert", "logits" }) data.Add(lie, verb);
        }
        return data;
    }

    private static string Expected(string lie) => lie switch
    {
        "zero-sha" => $"files[0].sha256 = {new string('0', 64)}: model.mlcm hashes to ",
        "dotdot-path" => "files[0].path = ../model.mlcm: must be a plain file name inside the bundle",
        "unlisted-file" => "files = extra.bin: in the bundle directory but not listed in the manifest",
        "model-symlink" => "files[0].path = model.mlcm: a bundle file must not be a link",
        "model-fifo" => "files[0].path = model.mlcm: a bundle file must be a regular file, not a FIFO",
        _ => throw new ArgumentException(lie),
    };

    private static void Lie(string bundle, string lie, string outside)
    {
        string manifest = Path.Combine(bundle, "manifest.json"), model = Path.Combine(bundle, "model.mlcm");
        string json = File.ReadAllText(manifest);
        switch (lie)
        {
            case "zero-sha":
                int at = json.IndexOf("\"sha256\": \"", StringComparison.Ordinal) + "\"sha256\": \"".Length;
                File.WriteAllText(manifest, json[..at] + new string('0', 64) + json[(at + 64)..]);
                break;
            case "dotdot-path":
                File.Move(model, Path.Combine(outside, "model.mlcm"));
                File.WriteAllText(manifest, json.Replace("\"path\": \"model.mlcm\"", "\"path\": \"../model.mlcm\""));
                break;
            case "unlisted-file":
                File.WriteAllBytes(Path.Combine(bundle, "extra.bin"), [1, 2, 3]);
                break;
            case "model-symlink":
                File.Move(model, Path.Combine(outside, "model.mlcm"));
                File.CreateSymbolicLink(model, Path.Combine(outside, "model.mlcm"));
                break;
            case "model-fifo":
                File.Delete(model);
                MakeFifo(model);
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_lying_manifest_is_refused_in_one_line(string lie, string verb)
    {
        using var dir = new TempDir();
        string bundle = dir["bundle"];
        Assert.Equal(0, CliRunner.Run("hf2mobile", Tiny, "-o", bundle, "--quant", "q8").ExitCode);
        Lie(bundle, lie, dir.Path);
        string[] args = verb switch
        {
            "inspect" => ["inspect", bundle],
            "verify" => ["verify", bundle, "--reference", Tiny, "--tokens", "1,5,9"],
            "verify-bundle-only" => ["verify", bundle, "--bundle-only"],
            "generate" => ["generate", bundle, "--prompt", "hi", "-n", "2"],
            "convert" => ["convert", bundle, "--to", "gguf", "-o", dir["out.gguf"]],
            _ => ["logits", bundle, "--tokens", "1,5,9"],
        };
        var r = CliRunner.Run(args);
        OneLineError(r, $"{bundle}/manifest.json: ", Expected(lie));
        // inspect shows what the bundle claims, then the failed check (the same text as the error line); nothing of the model.
        string shown = verb == "inspect" ? $"  verification: FAILED: {r.Stderr["mlconvert: error: ".Length..]}" : "";
        Assert.EndsWith(shown, r.Stdout);
        if (verb != "inspect") Assert.Equal("", r.Stdout);
        Assert.DoesNotContain("family: ", r.Stdout);
        Assert.False(File.Exists(dir["out.gguf"]));
    }

    [Fact]
    public void Bundle_only_verification_passes_a_good_bundle_and_reports_json()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"]).ExitCode);
        var r = CliRunner.Run("verify", dir["b"], "--bundle-only", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        long bytes = new FileInfo(dir["b/model.mlcm"]).Length;
        Assert.Equal($"{{\"schema\":\"mlconvert/1\",\"verb\":\"verify\",\"input\":\"{dir["b"]}\",\"format\":{{\"input\":\"bundle\"}},\"files\":1,\"file_bytes\":{bytes},\"pass\":true}}", r.Stdout.Trim().Replace(" ", "").Replace("\n", ""));

        var loose = CliRunner.Run("verify", SafetyKit.Tiny, "--bundle-only");
        Assert.Equal(2, loose.ExitCode);
        Assert.Equal($"mlconvert: error: {SafetyKit.Tiny}: manifest.json = (absent): a bundle directory holds manifest.json{Environment.NewLine}", loose.Stderr);
    }

    [Fact]
    public void A_model_file_inside_a_bundle_is_checked_against_the_manifest_too()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"]).ExitCode);
        File.WriteAllBytes(dir["b/notes.txt"], Encoding.UTF8.GetBytes("x"));
        OneLineError(CliRunner.Run("inspect", dir["b/model.mlcm"]), "files = notes.txt: in the bundle directory but not listed");
    }
}
