using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// GPT-2 style byte-level BPE (Hugging Face tokenizers' BPE model with the ByteLevel pre-tokenizer and
/// decoder) through Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> in byte-level mode: the text is
/// split by the pre-tokenizer's regexes (<see cref="BpePreTokenizers"/>, applied in turn as llama.cpp's
/// llm_tokenizer_bpe and tokenizers' Sequence do), each split's UTF-8 bytes are spelled in GPT-2's byte
/// alphabet and merged by rank. Text is plain text: the spelling of a special token is encoded as
/// characters, not as that token (llama.cpp's parse_special = false). BOS/EOS are added as
/// add_bos_token/add_eos_token ask; decoding is the ByteLevel decoder (<see cref="StreamingDecoder"/>).
/// Known limit: .NET's \p{L} and \p{N} match UTF-16 units, so a letter or digit outside the Basic
/// Multilingual Plane (e.g. U+1D400 MATHEMATICAL BOLD CAPITAL A) is split as a symbol where llama.cpp
/// and tokenizers see a letter; ids can differ only if merges join such a character with its neighbours.
/// </summary>
internal sealed class ByteLevelBpeCodec : ITextCodec
{
    private readonly BpeTokenizer _bpe;
    private readonly TokenizerIr _ir;

    public ByteLevelBpeCodec(TokenizerIr ir)
    {
        if (ir.Merges is null || !BpePreTokenizers.IsKnown(ir.PreTokenizer))
            throw new ArgumentException("a byte-level BPE tokenizer needs merges and a known pre-tokenizer", nameof(ir));
        _ir = ir;
        // Every piece, control ones included: a special token's spelling in text is still split and
        // merged like any other text (the readers checked that pieces are unique and merges resolve).
        var vocabulary = Enumerable.Range(0, ir.Count).Select(id => new KeyValuePair<string, int>(ir.Pieces[id], id)).ToList();
        var splitters = BpePreTokenizers.Regexes(ir.PreTokenizer!)
            .Select(p => (PreTokenizer)new RegexPreTokenizer(new Regex(p, RegexOptions.CultureInvariant), specialTokens: null))
            .ToList();
        _bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
        {
            Merges = ir.Merges.Select(m => $"{m.Left} {m.Right}").ToList(),
            ByteLevel = true,
            PreTokenizer = splitters.Count == 1 ? splitters[0] : new CompositePreTokenizer(splitters, specialTokens: null),
        });
    }

    public List<int> Encode(string text) => [.. _bpe.EncodeToIds(text)];

    public string Decode(IEnumerable<int> ids)
    {
        var decoder = new StreamingDecoder(_ir);
        var text = new System.Text.StringBuilder();
        foreach (int id in ids) text.Append(decoder.Push(id));
        return text.Append(decoder.Flush()).ToString();
    }
}
