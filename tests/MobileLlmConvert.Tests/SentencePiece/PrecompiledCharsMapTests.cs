using System.Buffers.Binary;
using Google.Protobuf;
using MobileLlmConvert.Core.Tokenization;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats.SentencePiece;
using MobileLlmConvert.Formats.SentencePiece.Proto;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.SentencePiece;

/// <summary>The trainer's nmt_nfkc charsmap interpreted by hand, and hostile charsmaps refused with SentencePieceException.</summary>
public sealed class PrecompiledCharsMapTests
{
    private const string ModelPath = "/ckpt/tokenizer.model";
    private static readonly string NmtModel = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "tokenizers", "unigram_nmt_nfkc.model");

    private static byte[] NmtCharsMap() => ModelProto.Parser.ParseFrom(File.ReadAllBytes(NmtModel)).NormalizerSpec.PrecompiledCharsmap.ToByteArray();

    private static byte[] WithCharsMap(byte[] charsMap)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(NmtModel));
        model.NormalizerSpec.PrecompiledCharsmap = ByteString.CopyFrom(charsMap);
        return model.ToByteArray();
    }

    private static string Replacement(PrecompiledCharsMap map, string input)
    {
        int n = map.LongestMatch(System.Text.Encoding.UTF8.GetBytes(input), out var replacement);
        return n == 0 ? "(none)" : System.Text.Encoding.UTF8.GetString(replacement);
    }

    [Fact]
    public void NmtNfkcRulesMapFullWidthLigaturesAndControls()
    {
        var map = PrecompiledCharsMap.Parse(NmtCharsMap());
        Assert.Equal("A", Replacement(map, "Ａ"));
        Assert.Equal("1", Replacement(map, "１"));
        Assert.Equal("fi", Replacement(map, "ﬁ"));
        Assert.Equal(" ", Replacement(map, "\t"));  // nmt: tabs and newlines are spaces
        Assert.Equal(" ", Replacement(map, "\u3000"));
        Assert.Equal("", Replacement(map, "\u0007")); // control characters vanish
        Assert.Equal("(none)", Replacement(map, "a"));
    }

    [Fact]
    public void NormalizerAppliesTheFlagsAfterTheRules()
    {
        var ir = SentencePieceModelFile.Read(File.ReadAllBytes(NmtModel), NmtModel, null);
        var normalizer = new SentencePieceNormalizer(SentencePieceSpec.Parse(ir.SentencePieceModel!), null);
        Assert.Equal("▁ABC▁x▁fi", System.Text.Encoding.UTF8.GetString(normalizer.Normalize("\u3000 ＡＢＣ\t\t x ﬁ  ")));
        Assert.Empty(normalizer.Normalize("  \t "));
    }

    public static TheoryData<string, Func<byte[], byte[]>, string, string> Corruptions() => new()
    {
        { "no root unit", _ => [0, 0, 0, 0, 1], "(trie size)", "0" },
        { "too short", _ => [1, 2, 3], "(length)", "3" },
        { "trie past blob", b => SetU32(b, 0, (uint)b.Length), "(trie size)", "" },
        { "strings cut", b => b[..(4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(b) + 10)], "(replacement offset)", "" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void CorruptCharsMapIsASentencePieceError(string name, Func<byte[], byte[]> corrupt, string field, string value)
    {
        var bytes = corrupt(NmtCharsMap());
        try
        {
            SentencePieceModelFile.Read(WithCharsMap(bytes), ModelPath, null);
            Assert.Fail(name + ": accepted");
        }
        catch (SentencePieceException e)
        {
            Assert.Equal(SentencePieceError.BadCharsMap, e.Kind);
            Assert.StartsWith($"{ModelPath}: normalizer_spec.precompiled_charsmap {field}", e.Message);
            Assert.Contains(value, e.Value);
        }
    }

    [Fact]
    public void ATrieWithACycleIsRefused()
    {
        // A root whose child for 'a' points back to the root's own base: the walk would loop on "aaaa...".
        var units = new uint[256];
        units[0] = 1u << 10;                       // root: offset 1, so its children sit at 1 ^ label
        units[1 ^ 'a'] = 'a' | ('a' << 10);         // child 'a' at unit 0x60; its offset 0x61 leads back to base 0x60 ^ 0x61 = 1
        var blob = new byte[4 + units.Length * 4 + 1];
        BinaryPrimitives.WriteUInt32LittleEndian(blob, (uint)(units.Length * 4));
        for (int i = 0; i < units.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4 + 4 * i), units[i]);
        var e = Assert.Throws<CharsMapFormatException>(() => PrecompiledCharsMap.Parse(blob));
        Assert.Equal("lies on a cycle: the double array is not a trie", e.Reason);
    }

    [Fact]
    public void RandomByteFlipsNeverEscapeAsAnotherException()
    {
        var original = NmtCharsMap();
        var rng = new SplitMix64(20261201);
        var text = "Ｈｅｌｌｏ ﬁne\tworld Café 日本 😀 \u0007";
        for (int round = 0; round < 60; round++)
        {
            var bytes = (byte[])original.Clone();
            for (int k = 0; k < 8; k++) bytes[(int)(rng.NextUInt64() % (ulong)bytes.Length)] ^= (byte)(1 + rng.NextUInt64() % 255);
            TextTokenizer tok;
            try
            {
                tok = new TextTokenizer(SentencePieceModelFile.Read(WithCharsMap(bytes), ModelPath, null));
            }
            catch (SentencePieceException)
            {
                continue;
            }
            // Accepted: every lookup stays in bounds and encoding terminates.
            var ids = tok.Encode(text);
            Assert.All(ids, id => Assert.InRange(id, 0, tok.Ir.Count - 1));
        }
    }

    private static byte[] SetU32(byte[] b, int at, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);
        return b;
    }
}
