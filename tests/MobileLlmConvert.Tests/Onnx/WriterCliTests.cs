namespace MobileLlmConvert.Tests.Onnx;

/// <summary>`convert --to onnx` and `--onnx-profile` through the command line.</summary>
public sealed class WriterCliTests
{
    private static string Tiny => Path.Combine(Fixtures.FixtureCatalog.RepoRoot, "testdata", "models", "llama-tiny");

    [Fact]
    public void ConvertToOnnxWritesTheFolderAndReplacesItsOwnOutput()
    {
        using var dir = new TempDir();
        string output = dir["onnx"];
        var r = CliRunner.Run("convert", Tiny, "--to", "onnx", "-o", output);
        Assert.True(r.ExitCode == 0, r.ToString());
        string[] expected = ["genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json", "tokenizer.model", "tokenizer_config.json"];
        Assert.Equal(expected, Directory.GetFiles(output).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray());
        // A second run replaces our own folder without --force.
        var again = CliRunner.Run("convert", Tiny, "--to", "onnx", "-o", output, "--onnx-profile", "genai");
        Assert.True(again.ExitCode == 0, again.ToString());
    }

    [Fact]
    public void UnknownProfileAndProfileForAnotherFormatExitTwoBeforeWriting()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("convert", Tiny, "--to", "onnx", "-o", dir["onnx"], "--onnx-profile", "tflite");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("mlconvert: error: --onnx-profile: unknown ONNX profile 'tflite': expected one of genai, standard" + Environment.NewLine, r.Stderr);
        Assert.False(Directory.Exists(dir["onnx"]));

        var g = CliRunner.Run("convert", Tiny, "--to", "gguf", "-o", dir["m.gguf"], "--onnx-profile", "genai");
        Assert.Equal(2, g.ExitCode);
        Assert.Contains("--onnx-profile applies to --to onnx, not gguf", g.Stderr);
    }

    [Fact]
    public void FiveBitQuantIsRefusedForOnnxBeforeWork()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("convert", Tiny, "--to", "onnx", "-o", dir["onnx"], "--quant", "q5_0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("q5_0 has no MatMulNBits form", r.Stderr);
        Assert.False(Directory.Exists(dir["onnx"]));
    }
}
