using Microsoft.ML.Tokenizers;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Text &lt;-&gt; ids for a model's <see cref="TokenizerIr"/>, through Microsoft.ML.Tokenizers' LLaMA
/// sentencepiece tokenizer over the IR's serialized ModelProto (REFERENCE.md, Tokenizer).
/// </summary>
public sealed class TextTokenizer
{
    private readonly LlamaTokenizer _tokenizer;

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
        using var stream = new MemoryStream(ir.SentencePieceModel, writable: false);
        _tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: ir.AddBos, addEndOfSentence: ir.AddEos);
    }

    /// <summary>Token ids of <paramref name="text"/>, with BOS/EOS as the tokenizer config asks (add_bos_token, add_eos_token).</summary>
    public IReadOnlyList<int> Encode(string text) =>
        _tokenizer.EncodeToIds(text, addBeginningOfSentence: Ir.AddBos, addEndOfSentence: Ir.AddEos);

    /// <summary>Text of <paramref name="ids"/>; control tokens (BOS, EOS) are left out.</summary>
    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false);

    /// <summary>
    /// A decoder that turns ids into text as they are generated. Pass <paramref name="startOfText"/> false
    /// when the ids continue a prompt already printed, so the first generated word keeps its space.
    /// </summary>
    public StreamingDecoder CreateStreamingDecoder(bool startOfText = true) => new(Ir, startOfText);
}
