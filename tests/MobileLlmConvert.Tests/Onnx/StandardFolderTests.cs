using Microsoft.ML.OnnxRuntime;
using GenAi = Microsoft.ML.OnnxRuntimeGenAI;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.Runtime;
using ModelProto = Onnx.ModelProto;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>
/// Folders written with <c>--onnx-profile standard</c>: ONNX Runtime runs them as our executor computes,
/// the genai and standard folders of one model agree, and ONNX Runtime GenAI generates our greedy tokens.
/// </summary>
public class StandardFolderTests
{
    private static string Write(ModelIr ir, TempDir dir, string profile)
    {
        string folder = dir[profile];
        new OnnxFormat().Write(ir, folder, FormatWriteOptions.Default with { OnnxProfile = profile });
        return folder;
    }

    private static float[] OrtLogits(string folder, ModelIr ir)
    {
        using var options = StandardHarness.ExactOptions();
        using var session = new InferenceSession(Path.Combine(folder, OnnxWriter.ModelFile), options);
        return WriterModels.Run(session, ir.Config, ir.Steps.Count, WriterModels.Tokens, 0, null).Logits;
    }

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var fixture in WriterModels.Specs.Keys)
        {
            foreach (var quant in new[] { "f32", "q4", "q4a" }) data.Add(fixture, quant);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Standard_folder_runs_in_ort_as_our_executor_computes(string fixture, string quant)
    {
        using var ir = WriterModels.Converted(fixture, quant);
        using var dir = new TempDir();
        string folder = Write(ir, dir, "standard");

        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, OnnxWriter.ModelFile)));
        Assert.Equal("standard", model.MetadataProps.Single(p => p.Key == OnnxMetadata.ProfileKey).Value);
        Assert.Equal([("", OnnxWriter.StandardOpset)], model.OpsetImport.Select(o => (o.Domain, o.Version)));
        Assert.All(model.Graph.Node, n => Assert.Equal("", n.Domain));

        double tolerance = quant == "f32" ? 1e-4 : 1e-3;
        double rel = WriterModels.Relative(OrtLogits(folder, ir), WriterModels.ExecutorLogits(ir, WriterModels.Tokens));
        Assert.True(rel <= tolerance, $"{fixture} {quant}: ORT on the standard folder vs executor {rel:g3} > {tolerance:g1}");
    }

    [Theory]
    [InlineData("llama-gqa-hd16")]
    [InlineData("mobilellm-ls-hd16")]
    [InlineData("llama-mha-tied-hd8")]
    public void Genai_and_standard_folders_of_one_q4_model_give_the_same_logits(string fixture)
    {
        using var ir = WriterModels.Converted(fixture, "q4");
        using var dir = new TempDir();
        var genai = OrtLogits(Write(ir, dir, "genai"), ir);
        var standard = OrtLogits(Write(ir, dir, "standard"), ir);
        double rel = WriterModels.Relative(standard, genai);
        Assert.True(rel <= 1e-3, $"{fixture}: standard vs genai folder {rel:g3}");
    }

    /// <summary>
    /// GenAI runs the standard folder with ORT's default session, whose MatMulNBits fusion rounds
    /// activations to int8 on quantized graphs (formats/onnx.md): there the reference is ORT's default
    /// session on the same folder, greedy over full passes; on f32 folders it is our naive executor.
    /// </summary>
    [Theory]
    [InlineData("llama-gqa-hd16", "f32")]
    [InlineData("mobilellm-ls-hd16", "f32")]
    [InlineData("mobillama-hd16", "f32")]
    [InlineData("mobillama-hd16", "q8")]
    [InlineData("llama-mha-tied-hd8", "q4")]
    [InlineData("mobilellm-hd32", "q4a")]
    public void Onnx_runtime_genai_generates_the_greedy_tokens_of_the_standard_folder(string fixture, string quant)
    {
        using var ir = WriterModels.Converted(fixture, quant);
        using var dir = new TempDir();
        string folder = Write(ir, dir, "standard");
        int[] prompt = WriterModels.Tokens[..4];
        const int newTokens = 8;

        var expected = new List<int>(prompt);
        if (quant == "f32")
        {
            var naive = new NaiveTransformer(ir, prompt.Length + newTokens);
            float[] logits = [];
            foreach (int t in prompt) logits = naive.Forward(t);
            for (int i = 0; i < newTokens; i++)
            {
                expected.Add(Array.IndexOf(logits, logits.Max()));
                if (i + 1 < newTokens) logits = naive.Forward(expected[^1]);
            }
        }
        else
        {
            using var session = new InferenceSession(Path.Combine(folder, OnnxWriter.ModelFile));
            int vocab = ir.Config.VocabSize;
            for (int i = 0; i < newTokens; i++)
            {
                var all = WriterModels.Run(session, ir.Config, ir.Steps.Count, [.. expected], 0, null).Logits;
                var last = all.AsSpan(all.Length - vocab, vocab).ToArray();
                expected.Add(Array.IndexOf(last, last.Max()));
            }
        }

        using var model = new GenAi.Model(folder);
        using var search = new GenAi.GeneratorParams(model);
        search.SetSearchOption("max_length", prompt.Length + newTokens);
        using var generator = new GenAi.Generator(model, search);
        generator.AppendTokens(prompt);
        while (!generator.IsDone()) generator.GenerateNextToken();
        Assert.Equal(expected, generator.GetSequence(0).ToArray());
    }
}
