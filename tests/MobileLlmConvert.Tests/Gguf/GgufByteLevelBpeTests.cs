using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Tests.EndToEnd;

namespace MobileLlmConvert.Tests.Gguf;

/// <summary>
/// The "gpt2" vocabulary we write for a byte-level BPE checkpoint, and what the reader does with a
/// damaged or unsupported one: refuse with one line, or (a pre-tokenizer we do not reproduce) read
/// the model without a tokenizer.
/// </summary>
public sealed class GgufByteLevelBpeTests
{
    private static string WriteGood(TestSupport.TempDir dir)
    {
        using var ir = HfImporter.Import(ByteLevelBpeTests.Checkpoint);
        GgufWriter.Write(ir, dir["good.gguf"], new GgufWriteOptions { FloatType = ElementType.F32 });
        return dir["good.gguf"];
    }

    private static string[] Strings(GgufMetadata m, string key) => m.OptionalArray<string>(key, GgufValueType.String)!;

    [Fact]
    public void WritesTheGpt2VocabularyLlamaCppExpects()
    {
        using var dir = new TestSupport.TempDir();
        var m = GgufFile.ReadMetadata(WriteGood(dir));
        Assert.Equal("gpt2", m.RequireString(GgufKeys.TokenizerModel));
        Assert.Equal("smollm", m.RequireString(GgufKeys.PreTokenizer));
        Assert.False(m.TryGet(GgufKeys.Scores, out _));
        var merges = Strings(m, GgufKeys.Merges);
        Assert.Equal(181, merges.Length);
        Assert.All(merges, s => Assert.Equal(2, s.Split(' ').Length));
        var types = m.OptionalArray<int>(GgufKeys.TokenType, GgufValueType.Int32)!;
        Assert.Equal([3, 3, 3, 1], types.Take(4));
        Assert.Equal(440, Strings(m, GgufKeys.Tokens).Length);
        Assert.Equal(false, m.OptionalBool(GgufKeys.AddBos));
    }

    private static void Fails(string expectedAfterPath, Action<List<KeyValuePair<string, GgufValue>>> keys)
    {
        using var dir = new TestSupport.TempDir();
        var path = GgufRewrite.Rewrite(WriteGood(dir), dir["bad.gguf"], keys);
        using var bag = new ResourceBag();
        var e = Assert.Throws<GgufException>(() => GgufFile.Read(path, bag));
        Assert.Equal($"{path}: {expectedAfterPath}", e.Message);
        CliAssert.RejectsWith(path, e.Message);
    }

    private static void EditStrings(List<KeyValuePair<string, GgufValue>> k, string key, Action<string[]> edit)
    {
        var items = (string[])((GgufArray)k.Single(kv => kv.Key == key).Value.Value).Items.Clone();
        edit(items);
        k.Set(key, GgufValue.Array(GgufValueType.String, items));
    }

    [Fact]
    public void AMergeOfUnknownTokensIsRefused() =>
        Fails("tokenizer.ggml.merges[3] = zz qq: a merge is two tokens \"a b\" whose concatenation is a token",
            k => EditStrings(k, GgufKeys.Merges, m => m[3] = "zz qq"));

    [Fact]
    public void AMergeWithoutASpaceIsRefused() =>
        Fails("tokenizer.ggml.merges[0] = re: a merge is two tokens \"a b\" whose concatenation is a token",
            k => EditStrings(k, GgufKeys.Merges, m => m[0] = "re"));

    [Fact]
    public void ATokenTwiceIsRefused() =>
        Fails("tokenizer.ggml.tokens[5] = <|im_end|>: the same token as id 2",
            k => EditStrings(k, GgufKeys.Tokens, t => t[5] = "<|im_end|>"));

    [Fact]
    public void MissingMergesAreRefused() =>
        Fails("tokenizer.ggml.merges = (absent): required key is missing", k => k.Remove(GgufKeys.Merges));

    [Fact]
    public void APreTokenizerWeDoNotReproduceLeavesTheModelWithoutATokenizer()
    {
        using var dir = new TestSupport.TempDir();
        var path = GgufRewrite.Rewrite(WriteGood(dir), dir["other.gguf"], k => k.Set(GgufKeys.PreTokenizer, GgufValue.String("llama-bpe")));
        using var bag = new ResourceBag();
        var ir = GgufFile.Read(path, bag);
        Assert.Null(ir.Tokenizer);
        Assert.Equal(440, ir.Config.VocabSize);
    }
}
