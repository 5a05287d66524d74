using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Tests.Cli;

/// <summary>What a user sees when the command line or the input is wrong: one line, exit 2, no output file.</summary>
public sealed class CliErrorTests
{
    private static string Tiny => Path.Combine(Fixtures.FixtureCatalog.RepoRoot, "testdata", "models", "llama-tiny");

    [Theory]
    [InlineData(new[] { "convert", "DIR", "--to", "tflite", "-o", "x" }, "tflite")]
    [InlineData(new[] { "convert", "DIR", "--to", "gguf", "--quant", "q5", "-o", "OUT" }, "unknown quantization scheme \"q5\"")]
    [InlineData(new[] { "convert", "DIR", "--to", "gguf", "--quant", "q8_0", "--group-size", "64", "-o", "OUT" }, "--quant q8_0 means group 32, but --group-size is 64")]
    [InlineData(new[] { "convert", "DIR", "--to", "gguf", "--quant", "q4_g64", "-o", "OUT" }, "GGUF has only ggml's block types (f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q6_k, bf16); the quantization asks for q4_g64")]
    [InlineData(new[] { "logits", "DIR", "--tokens", "1,999" }, "--tokens: token id 999 is outside the vocabulary (size 320)")]
    [InlineData(new[] { "generate", "DIR", "--prompt", "hi", "--top-p", "0" }, "--top-p: 0 must be in (0, 1]")]
    [InlineData(new[] { "inspect", "NOPE" }, "no such file or directory")]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    public void BadUsageIsOneLineAndExitTwo(string[] args, string expected)
    {
        using var dir = new TempDir();
        string output = dir.File("out.gguf");
        var resolved = args.Select(a => a switch { "DIR" => Tiny, "OUT" => output, "NOPE" => dir.File("missing"), _ => a }).ToArray();
        var r = CliRunner.Run(resolved);
        Assert.True(r.ExitCode == 2, r.ToString());
        var lines = r.Stderr.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
        Assert.False(File.Exists(output), "no output file after a failure");
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public void MoreTokensThanTheContextAreRefused()
    {
        string ids = string.Join(',', Enumerable.Range(0, 513).Select(i => 5 + i % 300));
        var r = CliRunner.Run("logits", Tiny, "--tokens", ids);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("mlconvert: error: --tokens: 513 tokens exceed the model's context of 512" + Environment.NewLine, r.Stderr);
    }

    [Fact]
    public void ANaNWeightIsRefusedWithoutLeavingAnOutputFile()
    {
        using var dir = new TempDir();
        using (var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, HiddenSize = 32, IntermediateSize = 64 }, TensorNames.HuggingFace))
        {
            var q = ir["model.layers.1.mlp.up_proj.weight"];
            var bytes = q.Source.ToArray();
            BitConverter.GetBytes(float.NaN).CopyTo(bytes, 4 * 40);
            var poisoned = ir with { Tensors = ir.Tensors.Select(t => t.Name == q.Name ? new Tensor(q.Name, q.Shape, q.Type, new MemorySource(bytes)) : t).ToList() };
            HfExporter.Export(poisoned, dir.File("ckpt"), new HfExportOptions());
        }
        var r = CliRunner.Run("hf2mobile", dir.File("ckpt"), "-o", dir.File("bundle"));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Equal("mlconvert: error: tensor model.layers.1.mlp.up_proj.weight: row 1 column 8 holds NaN; refusing to quantize a non-finite value to q4_0" + Environment.NewLine, r.Stderr);
        Assert.Equal(["ckpt"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }
}
