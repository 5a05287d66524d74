using MobileLlmConvert.Core.Ir;
using static MobileLlmConvert.Formats.Gguf.GgufMetadataAccess;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>
/// The vocabulary of a GGUF as a <see cref="TokenizerIr"/>: sentencepiece "llama" vocabularies (the
/// serialized sentencepiece model is left null and synthesized from the vocabulary elsewhere) and
/// byte-level BPE "gpt2" vocabularies whose tokenizer.ggml.pre we reproduce (<see cref="BpePreTokenizers"/>).
/// </summary>
internal static class GgufTokenizerReader
{
    /// <summary>Tokens a vocabulary may hold: far above any released model (256k), far below an int.</summary>
    public const int MaxVocabulary = 1 << 22;

    /// <summary>Number of tokens in tokenizer.ggml.tokens, or null when the file has none.</summary>
    public static int? TokenCount(GgufMetadata m) => m.OptionalArray<string>(GgufKeys.Tokens, GgufValueType.String)?.Length;

    /// <summary>The tokenizer, or null when we cannot tokenize as llama.cpp would (another model or pre-tokenizer): logits still work on ids.</summary>
    public static TokenizerIr? Read(GgufMetadata m)
    {
        string model = m.RequireString(GgufKeys.TokenizerModel);
        var tokens = m.OptionalArray<string>(GgufKeys.Tokens, GgufValueType.String) ?? throw Missing(m, GgufKeys.Tokens);
        if (tokens.Length == 0 || tokens.Length > MaxVocabulary)
            throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.Tokens, $"{tokens.Length} tokens", $"a vocabulary has 1..{MaxVocabulary} tokens");
        if (model == GgufKeys.ByteLevelBpeModel) return ReadByteLevelBpe(m, tokens);
        if (model != GgufKeys.SentencePieceModel) return null;

        var scores = m.OptionalArray<float>(GgufKeys.Scores, GgufValueType.Float32) ?? new float[tokens.Length];
        if (scores.Length != tokens.Length)
            throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.Scores, $"{scores.Length} scores", $"tokenizer.ggml.tokens has {tokens.Length}");
        var rawTypes = m.OptionalArray<int>(GgufKeys.TokenType, GgufValueType.Int32);
        var types = new PieceType[tokens.Length];
        if (rawTypes is null)
        {
            Array.Fill(types, PieceType.Normal);
        }
        else
        {
            if (rawTypes.Length != tokens.Length)
                throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.TokenType, $"{rawTypes.Length} types", $"tokenizer.ggml.tokens has {tokens.Length}");
            for (int i = 0; i < rawTypes.Length; i++)
            {
                // llama.cpp's token types are sentencepiece's piece types, 1 (normal) .. 6 (byte).
                if (rawTypes[i] is < (int)PieceType.Normal or > (int)PieceType.Byte)
                    throw new GgufException(GgufError.BadTokenizer, m.Path, $"{GgufKeys.TokenType}[{i}]", Text(rawTypes[i]), "token types are 1..6");
                types[i] = (PieceType)rawTypes[i];
            }
        }
        // sentencepiece LLaMA defaults (llama.cpp src/llama-vocab.cpp, LLAMA_VOCAB_TYPE_SPM: unk 0, bos 1, eos 2) where a key is absent, as llama.cpp uses them.
        int unk = SpecialId(m, GgufKeys.UnkId, tokens.Length) ?? 0;
        int bos = SpecialId(m, GgufKeys.BosId, tokens.Length) ?? 1;
        int eos = SpecialId(m, GgufKeys.EosId, tokens.Length) ?? 2;
        int? pad = SpecialId(m, GgufKeys.PadId, tokens.Length);
        if (Math.Max(unk, Math.Max(bos, eos)) >= tokens.Length)
            throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.Tokens, $"{tokens.Length} tokens", $"too few for the default special ids (unk {unk}, bos {bos}, eos {eos})");
        return new TokenizerIr(tokens, scores, types, unk, bos, eos, pad,
            m.OptionalBool(GgufKeys.AddBos) ?? true, m.OptionalBool(GgufKeys.AddEos) ?? false,
            SentencePieceModel: null, TokenizerConfigJson: null);
    }

    private static int? SpecialId(GgufMetadata m, string key, int count)
    {
        if (!m.TryGet(key, out var v)) return null;
        if (!v.IsInteger) throw WrongType(m, key, v, "an integer");
        long? id = v.AsInteger();
        if (id is null || id < 0 || id >= count)
            throw new GgufException(GgufError.BadTokenizer, m.Path, key, v.ToString(), $"outside the vocabulary of {count} tokens");
        return (int)id.Value;
    }

    /// <summary>
    /// A "gpt2" vocabulary (llama.cpp src/llama-vocab.cpp, LLAMA_VOCAB_TYPE_BPE): tokens, token types,
    /// merges "a b" and tokenizer.ggml.pre. Null when the pre-tokenizer is absent or one we do not
    /// reproduce, or a token is user-defined (llama.cpp matches those in text; we do not).
    /// </summary>
    private static TokenizerIr? ReadByteLevelBpe(GgufMetadata m, string[] tokens)
    {
        string? pre = m.TryGet(GgufKeys.PreTokenizer, out _) ? m.RequireString(GgufKeys.PreTokenizer) : null;
        if (!BpePreTokenizers.IsKnown(pre)) return null;
        var index = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i].Length == 0)
                throw new GgufException(GgufError.BadTokenizer, m.Path, $"{GgufKeys.Tokens}[{i}]", "\"\"", "a byte-level BPE token is never empty");
            if (!index.TryAdd(tokens[i], i))
                throw new GgufException(GgufError.BadTokenizer, m.Path, $"{GgufKeys.Tokens}[{i}]", tokens[i], $"the same token as id {index[tokens[i]]}");
        }
        for (int b = 0; b < 256; b++)
        {
            // Every byte needs its token, or some text would have no encoding.
            if (!index.ContainsKey(ByteLevelAlphabet.CharOf((byte)b).ToString()))
                throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.Tokens, $"byte 0x{b:X2}", "a byte-level BPE vocabulary spells all 256 bytes");
        }
        var rawTypes = m.OptionalArray<int>(GgufKeys.TokenType, GgufValueType.Int32);
        var types = new PieceType[tokens.Length];
        Array.Fill(types, PieceType.Normal);
        if (rawTypes is not null)
        {
            if (rawTypes.Length != tokens.Length)
                throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.TokenType, $"{rawTypes.Length} types", $"tokenizer.ggml.tokens has {tokens.Length}");
            for (int i = 0; i < rawTypes.Length; i++)
            {
                if (rawTypes[i] is < (int)PieceType.Normal or > (int)PieceType.Byte)
                    throw new GgufException(GgufError.BadTokenizer, m.Path, $"{GgufKeys.TokenType}[{i}]", Text(rawTypes[i]), "token types are 1..6");
                if (rawTypes[i] is not ((int)PieceType.Normal or (int)PieceType.Control)) return null;
                types[i] = (PieceType)rawTypes[i];
            }
        }
        var rawMerges = m.OptionalArray<string>(GgufKeys.Merges, GgufValueType.String) ?? throw Missing(m, GgufKeys.Merges);
        if (rawMerges.Length > MaxVocabulary)
            throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.Merges, $"{rawMerges.Length} merges", $"exceeds the cap of {MaxVocabulary}");
        var merges = new BpeMerge[rawMerges.Length];
        var seen = new HashSet<BpeMerge>();
        for (int i = 0; i < rawMerges.Length; i++)
        {
            string line = rawMerges[i];
            // llama.cpp: word.find(' ', 1), so a merge's left piece is never empty.
            int space = line.Length > 1 ? line.IndexOf(' ', 1) : -1;
            var merge = space < 0 ? default : new BpeMerge(line[..space], line[(space + 1)..]);
            if (space < 0 || !index.ContainsKey(merge.Left) || !index.ContainsKey(merge.Right) || !index.ContainsKey(merge.Left + merge.Right))
                throw new GgufException(GgufError.BadTokenizer, m.Path, $"{GgufKeys.Merges}[{i}]", line, "a merge is two tokens \"a b\" whose concatenation is a token");
            if (!seen.Add(merge))
                throw new GgufException(GgufError.BadTokenizer, m.Path, $"{GgufKeys.Merges}[{i}]", line, "the merge appears twice");
            merges[i] = merge;
        }
        int eos = SpecialId(m, GgufKeys.EosId, tokens.Length) ?? throw Missing(m, GgufKeys.EosId);
        int bos = SpecialId(m, GgufKeys.BosId, tokens.Length) ?? eos;
        // Byte-level BPE never produces an unknown token; the IR still names one (as HfTokenizerJson does).
        int unk = SpecialId(m, GgufKeys.UnkId, tokens.Length) ?? eos;
        int? pad = SpecialId(m, GgufKeys.PadId, tokens.Length);
        return new TokenizerIr(tokens, new float[tokens.Length], types, unk, bos, eos, pad,
            m.OptionalBool(GgufKeys.AddBos) ?? false, m.OptionalBool(GgufKeys.AddEos) ?? false,
            SentencePieceModel: null, TokenizerConfigJson: null)
        {
            Kind = TokenizerKind.ByteLevelBpe,
            Merges = merges,
            PreTokenizer = pre,
        };
    }
}
