using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Text &lt;-&gt; ids for a model's <see cref="TokenizerIr"/>. A sentencepiece ModelProto is encoded by
/// <see cref="SentencePieceEncoder"/> (BPE or unigram, its normalizer and precompiled charsmap), so ids
/// equal those of google/sentencepiece's SentencePieceProcessor.
/// </summary>
public sealed class TextTokenizer
{
    private readonly SentencePieceEncoder _sentencePiece;

    public TokenizerIr Ir { get; }
    public int BosId => Ir.BosId;
    public int EosId => Ir.EosId;

    public TextTokenizer(TokenizerIr ir)
    {
        ArgumentNullException.ThrowIfNull(ir);
        if (ir.SentencePieceModel is null)
            throw new InvalidOperationException(
                "the tokenizer has no sentencepiece model (TokenizerIr.SentencePieceModel is null): build one from the vocabulary before creating a TextTokenizer");
        Ir = ir;
        _sentencePiece = new SentencePieceEncoder(ir, SentencePieceSpec.Parse(ir.SentencePieceModel));
    }

    /// <summary>Token ids of <paramref name="text"/>, with BOS/EOS as the tokenizer config asks (add_bos_token, add_eos_token).</summary>
    public IReadOnlyList<int> Encode(string text) => Encode(text, Ir.AddBos, Ir.AddEos);

    /// <summary>Token ids of <paramref name="text"/>, with BOS and EOS only where asked.</summary>
    public IReadOnlyList<int> Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = _sentencePiece.Encode(text);
        if (addBos) ids.Insert(0, BosId);
        if (addEos) ids.Add(EosId);
        return ids;
    }

    /// <summary>Text of <paramref name="ids"/> as sentencepiece decodes it; control tokens (BOS, EOS) are left out.</summary>
    public string Decode(IEnumerable<int> ids) => _sentencePiece.Decode(ids);

    /// <summary>
    /// A decoder that turns ids into text as they are generated. Pass <paramref name="startOfText"/> false
    /// when the ids continue a prompt already printed, so the first generated word keeps its space.
    /// </summary>
    public StreamingDecoder CreateStreamingDecoder(bool startOfText = true) => new(Ir, startOfText);
}
