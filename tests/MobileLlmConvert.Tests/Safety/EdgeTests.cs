using MobileLlmConvert.Cli;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Formats.Mobile;
using static MobileLlmConvert.Tests.Safety.SafetyKit;

namespace MobileLlmConvert.Tests.Safety;

/// <summary>
/// Issue 9 items 3 and 4: only regular files are opened, only the files a checkpoint uses are read,
/// messages stay on one line with control characters escaped, and an input truncated during a
/// conversion ends in "input changed while reading" with no temporary left.
/// </summary>
public sealed class EdgeTests
{
    [Fact]
    public void A_fifo_as_config_json_is_refused_without_blocking()
    {
        using var dir = new TempDir();
        string ckpt = CopyTiny(dir);
        File.Delete(Path.Combine(ckpt, "config.json"));
        MakeFifo(Path.Combine(ckpt, "config.json"));
        var r = CliRunner.Run("hf2mobile", ckpt, "-o", dir["bundle"]);
        OneLineError(r, $"mlconvert: error: {ckpt}/config.json: file type = FIFO: only regular files are read (not FIFOs, devices, sockets or directories)");
        Assert.False(Directory.Exists(dir["bundle"]));
    }

    [Fact]
    public void A_device_as_a_model_file_is_refused_by_type()
    {
        OneLineError(CliRunner.Run("inspect", "/dev/zero"), "/dev/zero: file type = character device: only regular files are read");
        using var dir = new TempDir();
        File.CreateSymbolicLink(dir["m.gguf"], "/dev/zero");
        OneLineError(CliRunner.Run("convert", dir["m.gguf"], "--to", "mobile", "-o", dir["o.mlcm"]), "file type = character device");
    }

    [Fact]
    public void Unused_files_beside_a_checkpoint_are_never_opened_nor_hashed()
    {
        using var dir = new TempDir();
        string clean = CopyTiny(dir, "clean"), noisy = CopyTiny(dir, "noisy");
        MakeFifo(Path.Combine(noisy, "pytorch_model.bin"));
        MakeFifo(Path.Combine(noisy, "tokenizer.json"));
        File.WriteAllBytes(Path.Combine(noisy, "old.safetensors"), [1, 2, 3]);
        Assert.Equal(0, CliRunner.Run("hf2mobile", clean, "-o", dir["a"]).ExitCode);
        var r = CliRunner.Run("hf2mobile", noisy, "-o", dir["b"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(File.ReadAllBytes(dir["a/manifest.json"]), File.ReadAllBytes(dir["b/manifest.json"]));
    }

    [Fact]
    public void Control_characters_in_a_path_are_escaped_on_one_line()
    {
        using var dir = new TempDir();
        string evil = dir["bad\u001b[31mred\nline\r\tx"];
        Directory.CreateDirectory(evil);
        var r = CliRunner.Run("inspect", evil);
        string line = OneLineError(r, "bad\\x1b[31mred\\nline\\r\\tx/config.json");
        Assert.DoesNotContain('\u001b', r.Stderr);
    }

    [Fact]
    public void A_successful_run_escapes_paths_in_its_summary_line()
    {
        using var dir = new TempDir();
        string ckpt = CopyTiny(dir, "ck\u001b]0;pwned\u0007pt");
        var r = CliRunner.Run("hf2mobile", ckpt, "-o", dir["out\nbundle"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain(r.Stderr, c => c is '\u001b' or '\u0007');
        Assert.Contains("ck\\x1b]0;pwned\\x07pt -> ", r.Stderr);
        Assert.Contains("out\\nbundle: ", r.Stderr);
        Assert.True(Directory.Exists(dir["out\nbundle"]));
    }

    [Fact]
    public void Control_characters_in_a_config_value_are_escaped()
    {
        using var dir = new TempDir();
        string ckpt = CopyTiny(dir);
        string config = Path.Combine(ckpt, "config.json");
        string json = File.ReadAllText(config);
        int at = json.IndexOf("\"model_type\"", StringComparison.Ordinal);
        Assert.True(at >= 0);
        int start = json.IndexOf('"', json.IndexOf(':', at)) + 1, end = json.IndexOf('"', start);
        File.WriteAllText(config, json[..start] + "llama\\u001b[2J\\u2028evil" + json[end..]);
        var r = CliRunner.Run("inspect", ckpt);
        OneLineError(r, "llama\\x1b[2J\\u2028evil");
        Assert.DoesNotContain('\u001b', r.Stderr);
    }

    [Fact]
    public void Message_escaping_is_one_rule_for_every_control_character()
    {
        Assert.Equal("a\\x1bb\\nc\\rd\\te\\0f\\x7fg\\x85h\\u202ei\\u2028j \\ k é", Core.Errors.MessageText.Escape("a\u001bb\nc\rd\te\0f\u007fg\u0085h\u202ei\u2028j \\ k é"));
    }

    /// <summary>
    /// The input shrinks after it was opened and mapped, as `truncate` would do during a run. The
    /// verb's own path (Pipeline.Run, Models.Write, CliApp.ReportFailure) must end in one line
    /// and exit 2, with no temporary left beside the output.
    /// </summary>
    [Theory]
    [InlineData("truncate")]
    [InlineData("rewrite-same-size")]
    public void An_input_changed_during_conversion_ends_in_one_line_and_no_temporary(string change)
    {
        using var dir = new TempDir();
        string ckpt = CopyTiny(dir);
        string weights = Path.Combine(ckpt, "model.safetensors");
        Directory.CreateDirectory(dir["out"]);
        using var ir = ModelOpener.Open(ckpt);
        long length = new FileInfo(weights).Length;
        using (var f = new FileStream(weights, FileMode.Open, FileAccess.ReadWrite))
        {
            if (change == "truncate") f.SetLength(length / 2);
            else f.Write(new byte[16]);
        }
        File.SetLastWriteTimeUtc(weights, DateTime.UtcNow.AddMinutes(1));
        var stderr = new StringWriter();
        int code = -1;
        try
        {
            using var conversion = Pipeline.Run(ir, new ConvertOptions { Quant = "q8" });
            Models.Write(conversion.Result, dir["out/m.mlcm"], new WriteOptions { Format = "mobile" });
        }
        catch (Exception e)
        {
            code = CliApp.ReportFailure(e, stderr);
        }
        Assert.Equal(2, code);
        string expectedField = change == "truncate" ? $"size = {length / 2} bytes (was {length})" : "modification time = ";
        Assert.StartsWith($"mlconvert: error: {weights}: {expectedField}", stderr.ToString());
        Assert.EndsWith(": input changed while reading" + Environment.NewLine, stderr.ToString());
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir["out"]));
    }
}
