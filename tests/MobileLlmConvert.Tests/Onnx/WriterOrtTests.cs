using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>ONNX Runtime runs the genai-profile folders we write and computes what our executor computes.</summary>
public sealed class WriterOrtTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var fixture in WriterModels.Specs.Keys)
        {
            foreach (var quant in new[] { "f32", "f16", "q8", "q4", "q4a" }) data.Add(fixture, quant);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OrtLogitsMatchTheExecutorAndDecodeMatchesOnePass(string fixture, string quant)
    {
        using var ir = WriterModels.Converted(fixture, quant);
        using var dir = new TempDir();
        string folder = dir["model"];
        new OnnxFormat().Write(ir, folder, FormatWriteOptions.Default);

        var expected = WriterModels.ExecutorLogits(ir, WriterModels.Tokens);
        using var session = new InferenceSession(Path.Combine(folder, OnnxWriter.ModelFile));
        int steps = ir.Steps.Count;
        var full = WriterModels.Run(session, ir.Config, steps, WriterModels.Tokens, 0, null);
        double tolerance = quant == "f32" ? 1e-4 : 1e-3;
        double rel = WriterModels.Relative(full.Logits, expected);
        Assert.True(rel <= tolerance, $"{fixture} {quant}: ORT vs executor relative difference {rel:g3} > {tolerance:g1}");

        // Prefill all but the last token, then decode the last one through present -> past.
        int n = WriterModels.Tokens.Length, vocab = ir.Config.VocabSize;
        var prefill = WriterModels.Run(session, ir.Config, steps, WriterModels.Tokens[..^1], 0, null);
        var decode = WriterModels.Run(session, ir.Config, steps, WriterModels.Tokens[^1..], n - 1, prefill.Present);
        double step = WriterModels.Relative(decode.Logits, full.Logits.AsSpan((n - 1) * vocab, vocab));
        Assert.True(step <= 1e-5, $"{fixture} {quant}: decode through the cache vs one pass: {step:g3}");
    }

    public static TheoryData<string> Fixtures() => [.. WriterModels.Specs.Keys];

    /// <summary>
    /// The cross-format check: ORT on the q4 folder and our executor on the Q4_0 GGUF written
    /// from the same converted IR (the GGUF read back from disk, so its own layout and RoPE permutation
    /// are undone by the GGUF reader) compute the same logits.
    /// </summary>
    [Theory]
    [MemberData(nameof(Fixtures))]
    public void OrtOnTheQ4FolderMatchesTheExecutorOnTheQ4_0GgufOfTheSameModel(string fixture)
    {
        using var ir = WriterModels.Converted(fixture, "q4_0");
        using var dir = new TempDir();
        new OnnxFormat().Write(ir, dir["model"], FormatWriteOptions.Default);
        new Formats.Gguf.GgufFormat().Write(ir, dir["m.gguf"], FormatWriteOptions.Default);
        using var gguf = new Formats.Gguf.GgufFormat().Read(dir["m.gguf"], ReadOptions.Default);
        var expected = WriterModels.ExecutorLogits(gguf, WriterModels.Tokens);
        using var session = new InferenceSession(Path.Combine(dir["model"], OnnxWriter.ModelFile));
        var ort = WriterModels.Run(session, ir.Config, ir.Steps.Count, WriterModels.Tokens, 0, null);
        double rel = WriterModels.Relative(ort.Logits, expected);
        Assert.True(rel <= 1e-3, $"{fixture}: ORT on the q4 folder vs the executor on the Q4_0 GGUF: relative difference {rel:g3} > 1e-3");
    }
}
