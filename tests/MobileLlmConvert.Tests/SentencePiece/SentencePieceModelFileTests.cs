using Google.Protobuf;
using Microsoft.ML.Tokenizers;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats.SentencePiece;
using MobileLlmConvert.Formats.SentencePiece.Proto;
using ProtoType = MobileLlmConvert.Formats.SentencePiece.Proto.ModelProto.Types.SentencePiece.Types.Type;

namespace MobileLlmConvert.Tests.SentencePiece;

public sealed class SentencePieceModelFileTests
{
    private const string ModelPath = "/ckpt/tokenizer.model";

    private static byte[] Built() => SentencePieceModelFile.Build(SyntheticVocab.Create(320));

    [Fact]
    public void BuildThenReadKeepsEveryPieceScoreTypeAndId()
    {
        var vocab = SyntheticVocab.Create(320);
        var bytes = SentencePieceModelFile.Build(vocab);
        var read = SentencePieceModelFile.Read(bytes, ModelPath, null);
        Assert.Equal(vocab.Pieces, read.Pieces);
        Assert.Equal(vocab.Scores, read.Scores);
        Assert.Equal(vocab.Types, read.Types);
        Assert.Equal((0, 1, 2, (int?)null, true, false), (read.UnkId, read.BosId, read.EosId, read.PadId, read.AddBos, read.AddEos));
        Assert.Same(bytes, read.SentencePieceModel);
        Assert.Equal(bytes, SentencePieceModelFile.Build(read));
    }

    [Fact]
    public void BuildWritesLlamaSettings()
    {
        var model = ModelProto.Parser.ParseFrom(Built());
        Assert.Equal(TrainerSpec.Types.ModelType.Bpe, model.TrainerSpec.ModelType);
        Assert.True(model.TrainerSpec.ByteFallback);
        Assert.Equal(320, model.TrainerSpec.VocabSize);
        Assert.Equal(-1, model.TrainerSpec.PadId);
        Assert.Equal("identity", model.NormalizerSpec.Name);
        Assert.True(model.NormalizerSpec.AddDummyPrefix);
        Assert.True(model.NormalizerSpec.HasRemoveExtraWhitespaces);
        Assert.False(model.NormalizerSpec.RemoveExtraWhitespaces);
        Assert.Equal(ProtoType.Byte, model.Pieces[3 + 'h'].Type);
        Assert.Equal("<0x68>", model.Pieces[3 + 'h'].Piece);
    }

    /// <summary>
    /// "hello world" -> "▁hello▁world", then BPE merges by score (higher first, scores = -rank):
    /// "he"(-1) "▁w"(-10) "or"(-18) "ll"(-23) "▁he"(-37) "▁wor"(-41) "ld"(-42) "▁world"(-43).
    /// No pair reaches "▁hello" (neither "▁hell" nor "llo" is a piece), so the result is
    /// ▁he(296) ll(282) o(319) ▁world(302), after BOS (1).
    /// </summary>
    [Fact]
    public void MicrosoftTokenizersEncodesHelloWorldWithTheBuiltModel()
    {
        var vocab = SyntheticVocab.Create(320);
        Assert.Equal(("▁he", "ll", "o", "▁world"), (vocab.Pieces[296], vocab.Pieces[282], vocab.Pieces[319], vocab.Pieces[302]));
        using var stream = new MemoryStream(Built());
        var tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);
        var ids = tokenizer.EncodeToIds("hello world");
        Assert.Equal([1, 296, 282, 319, 302], ids);
        Assert.Equal("hello world", tokenizer.Decode(ids));
    }

    [Fact]
    public void MicrosoftTokenizersFallsBackToBytesForCharactersOutsideTheVocabulary()
    {
        using var stream = new MemoryStream(Built());
        var tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        // "▁" is piece 315; "Z" is no piece, so it becomes its byte <0x5A> = 3 + 0x5A.
        var ids = tokenizer.EncodeToIds("Z");
        Assert.Equal([315, 3 + 0x5A], ids);
        Assert.Equal("Z", tokenizer.Decode(ids));
    }

    [Fact]
    public void TokenizerConfigSetsBosAndEos()
    {
        var read = SentencePieceModelFile.Read(Built(), ModelPath, """{"add_bos_token": false, "add_eos_token": true, "other": [1]}"""u8.ToArray());
        Assert.False(read.AddBos);
        Assert.True(read.AddEos);
        Assert.Equal("""{"add_bos_token": false, "add_eos_token": true, "other": [1]}""", read.TokenizerConfigJson);
        var defaults = SentencePieceModelFile.Read(Built(), ModelPath, "{}"u8.ToArray());
        Assert.True(defaults.AddBos);
        Assert.False(defaults.AddEos);
    }

    private static byte[] Mutate(Action<ModelProto> change)
    {
        var model = ModelProto.Parser.ParseFrom(Built());
        change(model);
        return model.ToByteArray();
    }

    private static void AssertError(SentencePieceError kind, byte[] bytes, string field, string value, string? config = null, string file = ModelPath)
    {
        var e = Assert.Throws<SentencePieceException>(() => SentencePieceModelFile.Read(bytes, ModelPath, config is null ? null : System.Text.Encoding.UTF8.GetBytes(config)));
        Assert.Equal(kind, e.Kind);
        Assert.Contains(file, e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void FileTooLarge() =>
        AssertError(SentencePieceError.FileTooLarge, new byte[SentencePieceModelFile.MaxModelBytes + 1], "file length", (SentencePieceModelFile.MaxModelBytes + 1).ToString());

    [Fact]
    public void ParseError() => AssertError(SentencePieceError.ParseError, [0x0A, 0xFF, 0x01], "ModelProto", "3 bytes");

    [Fact]
    public void NoPieces() => AssertError(SentencePieceError.NoPieces, Mutate(m => m.Pieces.Clear()), "pieces", "0");

    [Fact]
    public void TooManyPieces()
    {
        var model = new ModelProto { TrainerSpec = new TrainerSpec { ModelType = TrainerSpec.Types.ModelType.Bpe } };
        for (int i = 0; i <= SentencePieceModelFile.MaxPieces; i++) model.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "p" + i });
        AssertError(SentencePieceError.TooManyPieces, model.ToByteArray(), "pieces", (SentencePieceModelFile.MaxPieces + 1).ToString());
    }

    [Fact]
    public void EmptyPiece() => AssertError(SentencePieceError.EmptyPiece, Mutate(m => m.Pieces[300].Piece = ""), "pieces[300]", "\"\"");

    [Fact]
    public void PieceTooLong() =>
        AssertError(SentencePieceError.PieceTooLong, Mutate(m => m.Pieces[300].Piece = new string('a', 1025)), "pieces[300]", "aaaa");

    [Fact]
    public void BadPieceType() => AssertError(SentencePieceError.BadPieceType, Mutate(m => m.Pieces[300].Type = (ProtoType)7), "pieces[300].type", "7");

    [Fact]
    public void DuplicatePiece() => AssertError(SentencePieceError.DuplicatePiece, Mutate(m => m.Pieces[301].Piece = m.Pieces[300].Piece), "pieces[301]", "▁wor");

    [Fact]
    public void IdOutOfRange() => AssertError(SentencePieceError.IdOutOfRange, Mutate(m => m.TrainerSpec.BosId = 320), "trainer_spec.bos_id", "320");

    [Fact]
    public void BadUnknownPiece() => AssertError(SentencePieceError.BadUnknownPiece, Mutate(m => m.TrainerSpec.UnkId = 1), "pieces[1].type", "Control");

    [Fact]
    public void BadBytePiece() => AssertError(SentencePieceError.BadBytePiece, Mutate(m => m.Pieces[300].Type = ProtoType.Byte), "pieces[300]", "▁wor");

    [Fact]
    public void UnsupportedModelType() =>
        AssertError(SentencePieceError.UnsupportedModelType, Mutate(m => m.TrainerSpec.ModelType = TrainerSpec.Types.ModelType.Word), "trainer_spec.model_type", "Word");

    [Fact]
    public void SecondUnknownPiece() =>
        AssertError(SentencePieceError.BadUnknownPiece, Mutate(m => m.Pieces[300].Type = ProtoType.Unknown), "pieces[300].type", "Unknown");

    [Fact]
    public void WhitespaceAsSuffixIsRefused() =>
        AssertError(SentencePieceError.UnsupportedOption, Mutate(m => m.TrainerSpec.TreatWhitespaceAsSuffix = true), "trainer_spec.treat_whitespace_as_suffix", "true");

    [Fact]
    public void DenormalizationRulesAreRefused() =>
        AssertError(SentencePieceError.UnsupportedOption, Mutate(m => m.DenormalizerSpec = new NormalizerSpec { PrecompiledCharsmap = ByteString.CopyFrom(1, 2, 3, 4, 5) }),
            "denormalizer_spec.precompiled_charsmap", "5 bytes");

    [Fact]
    public void UnknownNormalizerWithoutRulesIsRefused() =>
        AssertError(SentencePieceError.UnsupportedOption, Mutate(m => m.NormalizerSpec.Name = "nfd"), "normalizer_spec.name", "nfd");

    [Fact]
    public void BadScore() => AssertError(SentencePieceError.BadScore, Mutate(m => m.Pieces[300].Score = float.NaN), "pieces[300].score", "NaN");

    [Fact]
    public void BadTokenizerConfig() =>
        AssertError(SentencePieceError.BadTokenizerConfig, Built(), "add_bos_token", "\"yes\"", """{"add_bos_token": "yes"}""", "/ckpt/tokenizer_config.json");

    [Fact]
    public void BadTokenizerConfigJson() =>
        AssertError(SentencePieceError.BadTokenizerConfig, Built(), "(json)", "line 0", "{", "/ckpt/tokenizer_config.json");
}
