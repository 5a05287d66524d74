using System.Text;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class StreamingDecoderTests
{
    private static readonly MobileLlmConvert.Core.Ir.TokenizerIr Vocab = SyntheticVocab.Create(400);

    private static int Id(string piece) => Vocab.Pieces.ToList().IndexOf(piece) is var i and >= 0 ? i : throw new ArgumentException(piece);
    private static int Byte(byte b) => SyntheticVocab.ByteBase + b;

    [Fact]
    public void Pieces_become_text_with_spaces_and_the_dummy_prefix_dropped()
    {
        var d = new StreamingDecoder(Vocab);
        Assert.Equal("", d.Push(1)); // <s>
        Assert.Equal("hello", d.Push(Id("▁hello")));
        Assert.Equal(" world", d.Push(Id("▁world")));
        Assert.Equal("", d.Push(2)); // </s>
        Assert.Equal("", d.Flush());
    }

    [Fact]
    public void A_continuation_keeps_the_space_of_its_first_word()
    {
        var d = new StreamingDecoder(Vocab, startOfText: false);
        Assert.Equal(" world", d.Push(Id("▁world")));
        Assert.Equal(" the", d.Push(Id("▁the")));
    }

    [Fact]
    public void Byte_pieces_of_a_multi_byte_character_are_held_until_it_is_complete()
    {
        var d = new StreamingDecoder(Vocab);
        Assert.Equal("hello", d.Push(Id("▁hello")));
        var euro = Encoding.UTF8.GetBytes(" €"); // 20 E2 82 AC
        Assert.Equal(" ", d.Push(Byte(euro[0])));
        Assert.Equal("", d.Push(Byte(euro[1])));
        Assert.Equal("", d.Push(Byte(euro[2])));
        Assert.Equal("€", d.Push(Byte(euro[3])));
        var emoji = Encoding.UTF8.GetBytes("😀"); // four bytes, a surrogate pair in UTF-16
        for (int i = 0; i < 3; i++) Assert.Equal("", d.Push(Byte(emoji[i])));
        Assert.Equal("😀", d.Push(Byte(emoji[3])));
    }

    [Fact]
    public void An_incomplete_character_becomes_a_replacement_character()
    {
        var d = new StreamingDecoder(Vocab);
        Assert.Equal("", d.Push(Byte(0xE2)));
        Assert.Equal("\uFFFD the", d.Push(Id("▁the")));
        Assert.Equal("", d.Push(Byte(0xC3)));
        Assert.Equal("\uFFFD", d.Flush());
    }

    [Fact]
    public void Unknown_ids_are_rejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new StreamingDecoder(Vocab).Push(400));
        Assert.Contains("token id outside the vocabulary [0, 400)", e.Message);
    }
}
