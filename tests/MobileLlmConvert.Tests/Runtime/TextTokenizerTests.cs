using Google.Protobuf;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class TextTokenizerTests
{
    /// <summary>
    /// A minimal sentencepiece ModelProto written field by field (sentencepiece_model.proto numbers):
    /// pieces (1: piece, 2: score, 3: type), trainer_spec (3: model_type BPE = 2, 35: byte_fallback,
    /// 40-43: unk/bos/eos/pad ids), normalizer_spec (3: add_dummy_prefix, 4: remove_extra_whitespaces,
    /// 5: escape_whitespaces). Enough for the glue; the real builder lives in Formats.
    /// </summary>
    internal static byte[] ModelProto(TokenizerIr vocab)
    {
        using var ms = new MemoryStream();
        var o = new CodedOutputStream(ms);
        for (int i = 0; i < vocab.Count; i++)
        {
            var piece = new MemoryStream();
            var p = new CodedOutputStream(piece);
            p.WriteTag(1, WireFormat.WireType.LengthDelimited); p.WriteString(vocab.Pieces[i]);
            p.WriteTag(2, WireFormat.WireType.Fixed32); p.WriteFloat(vocab.Scores[i]);
            p.WriteTag(3, WireFormat.WireType.Varint); p.WriteEnum((int)vocab.Types[i]);
            p.Flush();
            o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(piece.ToArray()));
        }
        var trainer = new MemoryStream();
        var t = new CodedOutputStream(trainer);
        t.WriteTag(3, WireFormat.WireType.Varint); t.WriteEnum(2);
        t.WriteTag(4, WireFormat.WireType.Varint); t.WriteInt32(vocab.Count);
        t.WriteTag(35, WireFormat.WireType.Varint); t.WriteBool(true);
        t.WriteTag(40, WireFormat.WireType.Varint); t.WriteInt32(vocab.UnkId);
        t.WriteTag(41, WireFormat.WireType.Varint); t.WriteInt32(vocab.BosId);
        t.WriteTag(42, WireFormat.WireType.Varint); t.WriteInt32(vocab.EosId);
        t.WriteTag(43, WireFormat.WireType.Varint); t.WriteInt32(-1);
        t.Flush();
        o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(trainer.ToArray()));
        var norm = new MemoryStream();
        var n = new CodedOutputStream(norm);
        n.WriteTag(1, WireFormat.WireType.LengthDelimited); n.WriteString("identity");
        n.WriteTag(3, WireFormat.WireType.Varint); n.WriteBool(true);
        n.WriteTag(4, WireFormat.WireType.Varint); n.WriteBool(false);
        n.WriteTag(5, WireFormat.WireType.Varint); n.WriteBool(true);
        n.Flush();
        o.WriteTag(3, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(norm.ToArray()));
        o.Flush();
        return ms.ToArray();
    }

    private static readonly TokenizerIr Vocab = SyntheticVocab.Create(400);

    [Fact]
    public void A_tokenizer_without_a_sentencepiece_model_is_refused_with_a_clear_message()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new TextTokenizer(Vocab));
        Assert.Equal("the tokenizer has no sentencepiece model (TokenizerIr.SentencePieceModel is null): build one from the vocabulary before creating a TextTokenizer", e.Message);
    }

    [Fact]
    public void Encode_adds_bos_uses_merges_and_bytes_and_decode_inverts_it()
    {
        var tok = new TextTokenizer(Vocab with { SentencePieceModel = ModelProto(Vocab) });
        int Id(string piece) => Vocab.Pieces.ToList().IndexOf(piece);
        var ids = tok.Encode("the world");
        Assert.Equal([1, Id("▁the"), Id("▁world")], ids);
        Assert.Equal("the world", tok.Decode(ids));

        // '€' is not a piece: byte fallback gives its three UTF-8 bytes.
        var euro = tok.Encode("the €");
        Assert.Equal([1, Id("▁the"), Id("▁"), 3 + 0xE2, 3 + 0x82, 3 + 0xAC], euro);
        Assert.Equal("the €", tok.Decode(euro));

        var noBos = new TextTokenizer(Vocab with { SentencePieceModel = ModelProto(Vocab), AddBos = false });
        Assert.Equal([Id("▁the"), Id("▁world")], noBos.Encode("the world"));
    }

    [Fact]
    public void Streaming_decode_concatenates_to_the_whole_sequence_decode()
    {
        var tok = new TextTokenizer(Vocab with { SentencePieceModel = ModelProto(Vocab) });
        var ids = tok.Encode("once upon a time there was 😀 and ü.");
        var stream = tok.CreateStreamingDecoder();
        var text = string.Concat(ids.Select(stream.Push)) + stream.Flush();
        Assert.Equal(tok.Decode(ids), text);
        Assert.Equal("once upon a time there was 😀 and ü.", text);
    }
}
