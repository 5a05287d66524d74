using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;
using Google.Protobuf;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.SentencePiece;
using MobileLlmConvert.Formats.SentencePiece.Proto;

namespace MobileLlmConvert.Tests.Mobile;

/// <summary>Models and helpers shared by the mobile format tests.</summary>
internal static class MobileTestModels
{
    public static readonly SyntheticSpec LlamaGqa = new() { Family = ModelFamily.Llama, NumHeads = 4, NumKvHeads = 2 };
    public static readonly SyntheticSpec LlamaTied = new() { Family = ModelFamily.Llama, Tied = true, Seed = 2 };
    public static readonly SyntheticSpec MobileLlmLs = new() { Family = ModelFamily.MobileLLM, NumHeads = 4, NumKvHeads = 1, Tied = true, LayerSharing = true, Seed = 3 };
    public static readonly SyntheticSpec MobiLlama = new() { Family = ModelFamily.MobiLlama, NumHeads = 4, NumKvHeads = 4, StoredLayers = 3, Seed = 4 };

    public static SyntheticSpec Family(string name) => name switch
    {
        "llama-gqa" => LlamaGqa,
        "llama-tied" => LlamaTied,
        "mobilellm-ls" => MobileLlmLs,
        "mobillama" => MobiLlama,
        _ => throw new ArgumentException(name),
    };

    /// <summary>
    /// The IR with every matrix quantized to <paramref name="type"/> through a computed source (as
    /// the Quantize pass does), so writers see sources that materialize on demand. Norms stay as they are.
    /// </summary>
    public static ModelIr Quantize(ModelIr ir, ElementType type)
    {
        var tensors = ir.Tensors.Select(t =>
        {
            if (t.Shape.Length != 2) return t;
            long bytes = type.ByteSize(t.Shape)!.Value;
            var source = t;
            return new Tensor(t.Name, t.Shape, type, new ComputedSource(bytes, dst => QuantOps.Quantize(type, FloatConvert.ToSingleArray(source), dst)));
        }).ToList();
        return Rebuild(ir, tensors, ir.Tokenizer);
    }

    /// <summary>
    /// A new IR with other tensors or tokenizer. Not <c>ir with { Tensors = ... }</c>: a record's copy
    /// shares ModelIr's private name index with the original, and the Tensors initializer would then
    /// rewrite the original's index.
    /// </summary>
    public static ModelIr Rebuild(ModelIr ir, IReadOnlyList<Tensor> tensors, TokenizerIr? tokenizer) => new()
    {
        Config = ir.Config,
        Tensors = tensors,
        Embedding = ir.Embedding,
        FinalNorm = ir.FinalNorm,
        Output = ir.Output,
        Steps = ir.Steps,
        Tokenizer = tokenizer,
    };

    /// <summary>Replaces one tensor's bytes (same shape and type).</summary>
    public static ModelIr WithTensor(ModelIr ir, string name, ElementType type, byte[] bytes) =>
        Rebuild(ir, ir.Tensors.Select(t => t.Name == name ? new Tensor(name, t.Shape, type, new MemorySource(bytes)) : t).ToList(), ir.Tokenizer);

    /// <summary>
    /// A tokenizer as an HF import carries it: its own sentencepiece model bytes (with a normalizer
    /// <see cref="SentencePieceModelFile.Build"/> would not write, so a test can tell the source's
    /// bytes from rebuilt ones) and tokenizer_config.json.
    /// </summary>
    public static ModelIr WithFullTokenizer(ModelIr ir)
    {
        var model = ModelProto.Parser.ParseFrom(SentencePieceModelFile.Build(ir.Tokenizer!));
        model.NormalizerSpec.Name = "nmt_nfkc";
        model.NormalizerSpec.AddDummyPrefix = false;
        var tok = ir.Tokenizer! with
        {
            PadId = 0,
            SentencePieceModel = model.ToByteArray(),
            TokenizerConfigJson = "{\"add_bos_token\": true, \"add_eos_token\": false, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"pad_token\": \"<unk>\", \"note\": \"ünïcödé ▁\"}",
        };
        return Rebuild(ir, ir.Tensors, tok);
    }

    public static byte[] WriteBytes(ModelIr ir, MobileWriteOptions? options = null)
    {
        using var stream = new MemoryStream();
        MobileWriter.Write(ir, stream, options);
        return stream.ToArray();
    }

    public static MobileModel ReadBytes(byte[] bytes, bool verify = true) => MobileFile.Load(bytes, "test.mlcm", verify);

    public static void AssertSameModel(ModelIr expected, ModelIr actual)
    {
        Assert.Equal(expected.Config, actual.Config);
        Assert.Equal(expected.Steps, actual.Steps);
        Assert.Equal(expected.Embedding, actual.Embedding);
        Assert.Equal(expected.FinalNorm, actual.FinalNorm);
        Assert.Equal(expected.Output, actual.Output);
        Assert.Equal(expected.Tensors.Count, actual.Tensors.Count);
        for (int i = 0; i < expected.Tensors.Count; i++)
        {
            var e = expected.Tensors[i];
            var a = actual.Tensors[i];
            Assert.Equal(e.Name, a.Name);
            Assert.Equal(e.Shape, a.Shape);
            Assert.Equal(e.Type, a.Type);
            Assert.True(e.Source.ToArray().AsSpan().SequenceEqual(a.Source.Read()), $"bytes of {e.Name} differ");
        }
        AssertSameTokenizer(expected.Tokenizer, actual.Tokenizer);
    }

    public static void AssertSameTokenizer(TokenizerIr? expected, TokenizerIr? actual)
    {
        if (expected is null)
        {
            Assert.Null(actual);
            return;
        }
        Assert.NotNull(actual);
        Assert.Equal(expected.Pieces, actual.Pieces);
        Assert.Equal(expected.Scores.Select(BitConverter.SingleToInt32Bits), actual.Scores.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(expected.Types, actual.Types);
        Assert.Equal((expected.UnkId, expected.BosId, expected.EosId, expected.PadId, expected.AddBos, expected.AddEos),
            (actual.UnkId, actual.BosId, actual.EosId, actual.PadId, actual.AddBos, actual.AddEos));
        // The file stores the vocabulary once, as a ModelProto: the source's, or one built from the vocabulary.
        Assert.Equal(expected.SentencePieceModel ?? SentencePieceModelFile.Build(expected), actual.SentencePieceModel);
        Assert.Equal(expected.TokenizerConfigJson, actual.TokenizerConfigJson);
    }
}
