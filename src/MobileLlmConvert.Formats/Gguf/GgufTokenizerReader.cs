using MobileLlmConvert.Core.Ir;
using static MobileLlmConvert.Formats.Gguf.GgufMetadataAccess;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>
/// The vocabulary of a GGUF as a <see cref="TokenizerIr"/> (sentencepiece "llama" vocabularies only;
/// the serialized sentencepiece model is left null and synthesized from the vocabulary elsewhere).
/// </summary>
internal static class GgufTokenizerReader
{
    /// <summary>Tokens a vocabulary may hold: far above any released model (256k), far below an int.</summary>
    public const int MaxVocabulary = 1 << 22;

    /// <summary>Number of tokens in tokenizer.ggml.tokens, or null when the file has none.</summary>
    public static int? TokenCount(GgufMetadata m) => m.OptionalArray<string>(GgufKeys.Tokens, GgufValueType.String)?.Length;

    /// <summary>The tokenizer, or null when the vocabulary is not sentencepiece (e.g. "gpt2" BPE): logits still work on ids.</summary>
    public static TokenizerIr? Read(GgufMetadata m)
    {
        string model = m.RequireString(GgufKeys.TokenizerModel);
        var tokens = m.OptionalArray<string>(GgufKeys.Tokens, GgufValueType.String) ?? throw Missing(m, GgufKeys.Tokens);
        if (tokens.Length == 0 || tokens.Length > MaxVocabulary)
            throw new GgufException(GgufError.BadTokenizer, m.Path, GgufKeys.Tokens, $"{tokens.Length} tokens", $"a vocabulary has 1..{MaxVocabulary} tokens");
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
        // sentencepiece LLaMA defaults (REFERENCE.md, Tokenizer) where a key is absent, as llama.cpp uses them.
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
}
