using System.Text.Json;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.OnnxRuntime;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>`--runtime ort`: ONNX Runtime behind ILogitModel computes what our executor computes on the same folder, through the library and the CLI.</summary>
public sealed class OrtRuntimeTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var fixture in WriterModels.Specs.Keys)
        {
            foreach (var quant in new[] { "f32", "q4" }) data.Add(fixture, quant);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OrtModel_agrees_with_our_executor_on_the_folder(string fixture, string quant)
    {
        using var ir = WriterModels.Converted(fixture, quant);
        using var dir = new TempDir();
        new OnnxFormat().Write(ir, dir["m"], FormatWriteOptions.Default);
        using var back = ModelFormats.Read(dir["m"]);
        var tokens = WriterModels.Tokens;
        int vocab = back.Config.VocabSize;
        var ours = WriterModels.ExecutorLogits(back, tokens);
        using var ort = Runtimes.Open(dir["m"], back, RuntimeKind.Ort, new ExecutorOptions { Threads = 1, MaxContext = tokens.Length });
        Assert.IsType<OrtModel>(ort);
        var all = new float[tokens.Length * vocab];
        ort.Forward(tokens, all);
        double tolerance = quant == "f32" ? 1e-4 : 1e-3;
        double rel = WriterModels.Relative(all, ours);
        Assert.True(rel <= tolerance, $"{fixture} {quant}: ORT vs our executor {rel:g3} > {tolerance:g1}");

        // Prefill then one token at a time through present -> past gives the one-pass rows.
        ort.Reset();
        ort.ForwardLast(tokens.AsSpan(0, 6));
        for (int i = 6; i < tokens.Length; i++)
        {
            var row = ort.ForwardLast(tokens.AsSpan(i, 1)).ToArray();
            Assert.True(WriterModels.Relative(row, all.AsSpan(i * vocab, vocab)) <= 1e-5, $"{fixture} {quant}: decode step {i}");
        }
        Assert.Equal(tokens.Length, ort.Position);
        Assert.Throws<InvalidOperationException>(() => ort.ForwardLast([1]));
    }

    private static string Folder(TempDir dir, string source, string quant)
    {
        var r = CliRunner.Run("convert", source, "--to", "onnx", "--quant", quant, "-o", dir["onnx"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return dir["onnx"];
    }

    [Fact]
    public void Verify_with_ort_passes_against_the_checkpoint()
    {
        using var dir = new TempDir();
        string hf = MobileLlmConvert.Tests.EndToEnd.Models.Path("mobilellm-ls-tiny");
        string folder = Folder(dir, hf, "f32");
        var r = CliRunner.Run("verify", folder, "--reference", hf, "--runtime", "ort", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal("ort", doc.RootElement.GetProperty("runtime").GetString());
        Assert.True(doc.RootElement.GetProperty("pass").GetBoolean());
        Assert.True(doc.RootElement.GetProperty("max_kl").GetDouble() < 1e-6, r.Stdout);
    }

    [Fact]
    public void Generate_with_ort_gives_our_greedy_tokens()
    {
        using var dir = new TempDir();
        string folder = Folder(dir, MobileLlmConvert.Tests.EndToEnd.Models.Path("mobilellm-ls-tiny"), "f32");
        long[] Ids(string runtime)
        {
            var r = CliRunner.Run("generate", folder, "--prompt", "Once upon a time", "-n", "12", "--runtime", runtime, "--quant-path", "exact", "--json");
            Assert.True(r.ExitCode == 0, r.ToString());
            using var doc = JsonDocument.Parse(r.Stdout);
            Assert.Equal(runtime, doc.RootElement.GetProperty("runtime").GetString());
            return doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        }
        var ours = Ids("ours");
        Assert.Equal(12, ours.Length);
        Assert.Equal(ours, Ids("ort"));
    }

    [Fact]
    public void Logits_and_bench_run_through_ort()
    {
        using var dir = new TempDir();
        string folder = Folder(dir, MobileLlmConvert.Tests.EndToEnd.Models.Path("llama-tiny"), "q4");
        var ours = CliRunner.Run("logits", folder, "--tokens", "1,17,40,99", "--json");
        var ort = CliRunner.Run("logits", folder, "--tokens", "1,17,40,99", "--json", "--runtime", "ort");
        Assert.True(ours.ExitCode == 0 && ort.ExitCode == 0, ours + "\n" + ort);
        float[] Logits(string json) => JsonDocument.Parse(json).RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(x => x.GetSingle()).ToArray();
        Assert.True(WriterModels.Relative(Logits(ort.Stdout), Logits(ours.Stdout)) <= 1e-3);

        var bench = CliRunner.Run("bench", folder, "--runtime", "ort", "--prompt-tokens", "8", "--gen-tokens", "4", "--threads", "1", "--json");
        Assert.True(bench.ExitCode == 0, bench.ToString());
        using var doc = JsonDocument.Parse(bench.Stdout);
        Assert.Equal("ort", doc.RootElement.GetProperty("runtime").GetString());
        Assert.True(doc.RootElement.GetProperty("decode_tokens_per_s").GetDouble() > 0);
    }

    [Fact]
    public void Ort_on_a_model_that_is_not_onnx_is_a_usage_error()
    {
        string hf = MobileLlmConvert.Tests.EndToEnd.Models.Path("llama-tiny");
        var r = CliRunner.Run("logits", hf, "--tokens", "1,2", "--runtime", "ort");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal($"mlconvert: error: --runtime ort: {hf} is not an ONNX model (a folder holding model.onnx, or a .onnx file); convert it with --to onnx first{Environment.NewLine}", r.Stderr);
        var bad = CliRunner.Run("logits", hf, "--tokens", "1,2", "--runtime", "tensorrt");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--runtime: 'tensorrt' is not one of ours, ort", bad.Stderr);
    }
}
