using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>Text &lt;-&gt; ids for one kind of tokenizer; <see cref="TextTokenizer"/> picks one by <see cref="TokenizerIr.Kind"/>.</summary>
internal interface ITextCodec
{
    /// <summary>Token ids of <paramref name="text"/>, without BOS/EOS (<see cref="TextTokenizer"/> adds them).</summary>
    List<int> Encode(string text);

    /// <summary>Text of <paramref name="ids"/>; control tokens (BOS, EOS) are left out.</summary>
    string Decode(IEnumerable<int> ids);
}

/// <summary>
/// Text &lt;-&gt; ids for a model's <see cref="TokenizerIr"/>. A sentencepiece ModelProto is encoded by
/// <see cref="SentencePieceEncoder"/> (BPE or unigram, its normalizer and precompiled charsmap), so ids
/// equal those of google/sentencepiece's SentencePieceProcessor; byte-level BPE (tokenizer.json) goes
/// through <see cref="ByteLevelBpeCodec"/>.
/// </summary>
public sealed class TextTokenizer
{
    private readonly ITextCodec _codec;

    /// <summary>The tokenizer data this encodes and decodes with.</summary>
    public TokenizerIr Ir { get; }
    /// <summary>Beginning-of-sequence id.</summary>
    public int BosId => Ir.BosId;
    /// <summary>End-of-sequence id.</summary>
    public int EosId => Ir.EosId;

    /// <summary>A tokenizer over <paramref name="ir"/> (sentencepiece BPE/unigram or byte-level BPE, as its kind says).</summary>
    public TextTokenizer(TokenizerIr ir)
    {
        ArgumentNullException.ThrowIfNull(ir);
        Ir = ir;
        _codec = ir.Kind switch
        {
            TokenizerKind.SentencePiece => new SentencePieceCodec(ir),
            TokenizerKind.ByteLevelBpe => new ByteLevelBpeCodec(ir),
            _ => throw new ArgumentException($"unknown tokenizer kind {ir.Kind}", nameof(ir)),
        };
    }

    /// <summary>Token ids of <paramref name="text"/>, with BOS/EOS as the tokenizer config asks (add_bos_token, add_eos_token).</summary>
    public IReadOnlyList<int> Encode(string text) => Encode(text, Ir.AddBos, Ir.AddEos);

    /// <summary>Token ids of <paramref name="text"/>, with BOS and EOS only where asked.</summary>
    public IReadOnlyList<int> Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = _codec.Encode(text);
        if (addBos) ids.Insert(0, BosId);
        if (addEos) ids.Add(EosId);
        return ids;
    }

    /// <summary>Text of <paramref name="ids"/>; control tokens (BOS, EOS) are left out.</summary>
    public string Decode(IEnumerable<int> ids) => _codec.Decode(ids);

    /// <summary>
    /// A decoder that turns ids into text as they are generated. Pass <paramref name="startOfText"/> false
    /// when the ids continue a prompt already printed, so the first generated word keeps its space.
    /// </summary>
    public StreamingDecoder CreateStreamingDecoder(bool startOfText = true) => new(Ir, startOfText);

    private sealed class SentencePieceCodec(TokenizerIr ir) : ITextCodec
    {
        private readonly SentencePieceEncoder _encoder = new(ir, SentencePieceSpec.Parse(ir.SentencePieceModel
            ?? throw new InvalidOperationException(
                "the tokenizer has no sentencepiece model (TokenizerIr.SentencePieceModel is null): build one from the vocabulary before creating a TextTokenizer")));

        public List<int> Encode(string text) => _encoder.Encode(text);

        public string Decode(IEnumerable<int> ids) => _encoder.Decode(ids);
    }
}
