using System.Text.Json;
using MobileLlmConvert.Formats.SentencePiece;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.SentencePiece;

/// <summary>
/// Our encode/decode against the real sentencepiece: testdata/tokenizers/*.model were trained by the
/// sentencepiece trainer (defaults: unigram + nmt_nfkc; and BPE, nfkc_cf, identity, byte_fallback,
/// user-defined symbols) and spm_goldens.json holds python3-sentencepiece's encode ids, pieces and
/// decode for every string (make_spm_fixtures.py; rerun only on purpose).
/// </summary>
public sealed class SentencePieceGoldenTests
{
    private static readonly string Dir = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "tokenizers");
    private static readonly Lazy<JsonElement> Goldens = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "spm_goldens.json"))).RootElement);
    private static readonly Dictionary<string, TextTokenizer> Tokenizers = [];

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var model in Goldens.Value.GetProperty("models").EnumerateObject())
            for (int i = 0; i < model.Value.GetProperty("cases").GetArrayLength(); i++) data.Add(model.Name, i);
        return data;
    }

    internal static TextTokenizer Tokenizer(string model)
    {
        lock (Tokenizers)
        {
            if (!Tokenizers.TryGetValue(model, out var tok))
            {
                string path = Path.Combine(Dir, model + ".model");
                Tokenizers[model] = tok = new TextTokenizer(SentencePieceModelFile.Read(File.ReadAllBytes(path), path, null));
            }
            return tok;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void IdsPiecesAndDecodeEqualSentencePiece(string model, int index)
    {
        var golden = Goldens.Value.GetProperty("models").GetProperty(model).GetProperty("cases")[index];
        string text = golden.GetProperty("text").GetString()!;
        int[] expected = golden.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var tok = Tokenizer(model);

        var ids = tok.Encode(text, addBos: false, addEos: false);

        Assert.Equal(expected, ids);
        Assert.Equal(golden.GetProperty("pieces").EnumerateArray().Select(e => e.GetString()), ids.Select(id => tok.Ir.Pieces[id]));
        Assert.Equal(golden.GetProperty("decoded").GetString(), tok.Decode(ids));
    }

    [Fact]
    public void EveryTrainedVariantIsCovered()
    {
        var models = Goldens.Value.GetProperty("models").EnumerateObject().Select(m => m.Name).ToArray();
        Assert.Equal(["unigram_nmt_nfkc", "bpe_nmt_nfkc_bytes", "unigram_nfkc_cf_bytes", "bpe_identity_llama", "unigram_identity_noprefix"], models);
        foreach (var m in models) Assert.True(Goldens.Value.GetProperty("models").GetProperty(m).GetProperty("cases").GetArrayLength() >= 30, m);
    }

    [Fact]
    public void BosAndEosFollowTheTokenizerConfig()
    {
        var tok = Tokenizer("unigram_nmt_nfkc");
        var plain = tok.Encode("Hello world", addBos: false, addEos: false);
        Assert.Equal([tok.BosId, .. plain], tok.Encode("Hello world"));
        Assert.Equal([tok.BosId, .. plain, tok.EosId], tok.Encode("Hello world", addBos: true, addEos: true));
    }
}
