using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.Runtime;
using E2E = MobileLlmConvert.Tests.EndToEnd.Models;
using GenAi = Microsoft.ML.OnnxRuntimeGenAI;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>ONNX Runtime GenAI loads our folders as an app would: the same greedy tokens and the same token ids as ours.</summary>
public sealed class WriterGenAiTests
{
    private const int NewTokens = 12;

    public static TheoryData<string, string> Cases() => new()
    {
        { "llama-gqa-hd16", "q4" },
        { "llama-mha-tied-hd8", "f32" },
        { "mobilellm-hd32", "q8" },
        { "mobilellm-ls-hd16", "q4" },
        { "mobillama-hd16", "f16" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GenAiGeneratesTheExecutorsGreedyTokens(string fixture, string quant)
    {
        using var ir = WriterModels.Converted(fixture, quant);
        using var dir = new TempDir();
        string folder = dir["model"];
        new OnnxFormat().Write(ir, folder, FormatWriteOptions.Default);
        int[] prompt = WriterModels.Tokens[..6];

        using var transformer = new Transformer(ir, new ExecutorOptions { Threads = 1, QuantPath = QuantPath.Exact, MaxContext = prompt.Length + NewTokens });
        var ours = new MobileLlmConvert.Runtime.Generator(transformer, new Sampler(ir.Config.VocabSize)).Generate(prompt, NewTokens, stopToken: null).ToArray();

        using var model = new GenAi.Model(folder);
        using var parameters = new GenAi.GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Length + NewTokens);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new GenAi.Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone()) generator.GenerateNextToken();
        var theirs = generator.GetSequence(0).ToArray()[prompt.Length..];

        // GenAI stops at (and keeps) the EOS; ours was asked not to stop, so compare up to GenAI's end.
        Assert.NotEmpty(theirs);
        Assert.Equal(ours[..theirs.Length], theirs);
    }

    [Fact]
    public void GenAiTokenizerEncodesLikeOursAndOrtMatchesTheHfSource()
    {
        using var source = ModelFormats.Read(E2E.Path("llama-tiny"));
        using var conversion = Pipeline.Run(source, new ConvertOptions { Quant = "f32" });
        using var dir = new TempDir();
        string folder = dir["model"];
        new OnnxFormat().Write(conversion.Result, folder, FormatWriteOptions.Default);
        Assert.True(File.Exists(Path.Combine(folder, OnnxWriter.TokenizerJsonFile)));

        using var model = new GenAi.Model(folder);
        using var tokenizer = new GenAi.Tokenizer(model);
        var ours = Tokenizers.For(source);
        // tokenizer.json's BPE byte-falls-back a character that is not itself a piece before merging, where
        // sentencepiece merges first (formats/onnx.md): the comparison needs texts whose characters are all
        // pieces. The fixture's 320-piece vocabulary has a, e, o, t and the word mark as single characters.
        var pieces = conversion.Result.Tokenizer!.Pieces.ToHashSet();
        foreach (var text in new[] { "a toe to tote", "eat at a tea", "tea at toe", "tot ate oat" })
        {
            Assert.All(text.Replace(' ', '\u2581'), ch => Assert.Contains(ch.ToString(), pieces));
            using var seqs = tokenizer.Encode(text);
            // GenAI 0.18's Tokenizer.Encode adds no BOS (neither add_bos_token nor the TemplateProcessing
            // post-processor moves it; formats/onnx.md): the text's ids must be ours exactly.
            Assert.Equal(ours.Inner.Encode(text, addBos: false, addEos: false), seqs[0].ToArray());
        }

        // The executor on the Hugging Face source vs ORT on the folder.
        var expected = E2E.Logits(E2E.Path("llama-tiny"), E2E.Tokens).Logits;
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(Path.Combine(folder, OnnxWriter.ModelFile));
        var got = WriterModels.Run(session, conversion.Result.Config, conversion.Result.Steps.Count, E2E.Tokens, 0, null).Logits;
        double rel = WriterModels.Relative(got, expected);
        Assert.True(rel <= 1e-4, $"ORT vs executor on the HF source: {rel:g3}");
    }
}
