using Microsoft.ML.Tokenizers;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>Text &lt;-&gt; ids for one kind of tokenizer; <see cref="TextTokenizer"/> picks one by <see cref="TokenizerIr.Kind"/>.</summary>
internal interface ITextCodec
{
    /// <summary>Token ids of <paramref name="text"/>, with BOS/EOS as the tokenizer config asks.</summary>
    IReadOnlyList<int> Encode(string text);

    /// <summary>Text of <paramref name="ids"/>; control tokens (BOS, EOS) are left out.</summary>
    string Decode(IEnumerable<int> ids);
}

/// <summary>
/// Text &lt;-&gt; ids for a model's <see cref="TokenizerIr"/>: sentencepiece through Microsoft.ML.Tokenizers'
/// LLaMA tokenizer over the IR's serialized ModelProto, byte-level BPE through <see cref="ByteLevelBpeCodec"/>.
/// </summary>
public sealed class TextTokenizer
{
    private readonly ITextCodec _codec;

    public TokenizerIr Ir { get; }
    public int BosId => Ir.BosId;
    public int EosId => Ir.EosId;

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
    public IReadOnlyList<int> Encode(string text) => _codec.Encode(text);

    /// <summary>Text of <paramref name="ids"/>; control tokens (BOS, EOS) are left out.</summary>
    public string Decode(IEnumerable<int> ids) => _codec.Decode(ids);

    /// <summary>
    /// A decoder that turns ids into text as they are generated. Pass <paramref name="startOfText"/> false
    /// when the ids continue a prompt already printed, so the first generated word keeps its space.
    /// </summary>
    public StreamingDecoder CreateStreamingDecoder(bool startOfText = true) => new(Ir, startOfText);

    private sealed class SentencePieceCodec : ITextCodec
    {
        private readonly LlamaTokenizer _tokenizer;
        private readonly TokenizerIr _ir;

        public SentencePieceCodec(TokenizerIr ir)
        {
            if (ir.SentencePieceModel is null)
                throw new InvalidOperationException(
                    "the tokenizer has no sentencepiece model (TokenizerIr.SentencePieceModel is null): build one from the vocabulary before creating a TextTokenizer");
            _ir = ir;
            using var stream = new MemoryStream(ir.SentencePieceModel, writable: false);
            _tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: ir.AddBos, addEndOfSentence: ir.AddEos);
        }

        public IReadOnlyList<int> Encode(string text) =>
            _tokenizer.EncodeToIds(text, addBeginningOfSentence: _ir.AddBos, addEndOfSentence: _ir.AddEos);

        public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false);
    }
}
