using System.Text;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Tests.EndToEnd;
using static MobileLlmConvert.Tests.Mobile.HostileFiles;
using static MobileLlmConvert.Tests.Mobile.MobileTestModels;

namespace MobileLlmConvert.Tests.Mobile;

/// <summary>
/// The hf_tokenizer_json section (SPEC.md rule 15, "Tokenizer"): a byte-level BPE survives the mobile
/// file exactly, and a file whose tokenizer sections are wrong is refused with one line.
/// </summary>
public sealed class MobileByteLevelBpeTests
{
    private static void Fails(byte[] bytes, string message)
    {
        var e = Assert.Throws<MobileFormatException>(() => ReadBytes(bytes));
        Assert.Equal(MobileError.BadTokenizer, e.Kind);
        Assert.Equal(message, e.Message);
        using var dir = new TempDir();
        string path = dir.File("test.mlcm");
        File.WriteAllBytes(path, bytes);
        CliAssert.RejectsWith(path, path + message["test.mlcm".Length..]);
    }

    [Fact]
    public void TheTokenizerReadsBackExactlyAndTheBytesAreStable()
    {
        using var ir = HfImporter.Import(ByteLevelBpeTests.Checkpoint);
        var first = WriteBytes(ir);
        Assert.Equal(first, WriteBytes(ir));
        var header = Header(first);
        Assert.Null(header.Tokenizer.SentencepieceModel);
        Assert.NotNull(header.Tokenizer.HfTokenizerJson);
        var back = ReadBytes(first).Ir.Tokenizer!;
        Assert.Equal(TokenizerKind.ByteLevelBpe, back.Kind);
        Assert.Equal(ir.Tokenizer!.Pieces, back.Pieces);
        Assert.Equal(ir.Tokenizer.Types, back.Types);
        Assert.Equal(ir.Tokenizer.Merges, back.Merges);
        Assert.Equal(ir.Tokenizer.PreTokenizer, back.PreTokenizer);
        Assert.Equal((ir.Tokenizer.BosId, ir.Tokenizer.EosId, ir.Tokenizer.AddBos), (back.BosId, back.EosId, back.AddBos));
    }

    [Fact]
    public void BothTokenizerSectionsAreRefused() =>
        Fails(WithHeader(h => h.Tokenizer.HfTokenizerJson = h.Tokenizer.SentencepieceModel.Clone()),
            "test.mlcm: tokenizer.hf_tokenizer_json = (present): a tokenizer has a sentencepiece model or a tokenizer.json, not both");

    [Fact]
    public void AnUnsupportedTokenizerJsonIsRefused() =>
        Fails(WithTokenizerModel(Encoding.UTF8.GetBytes("{\"normalizer\": {\"type\": \"NFC\"}}"), h =>
            {
                h.Tokenizer.HfTokenizerJson = h.Tokenizer.SentencepieceModel;
                h.Tokenizer.SentencepieceModel = null;
            }),
            "test.mlcm: tokenizer.hf_tokenizer_json.normalizer = {...}: a normalizer changes the text before splitting; only byte-level BPE without one is supported");
}
