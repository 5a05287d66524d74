using MobileLlmConvert.Formats.Json;
using System.Globalization;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> holding a GPT-2 style byte-level BPE (SmolLM2, GPT-2,
/// StarCoder) into a <see cref="TokenizerIr"/>, and writes the canonical tokenizer.json of one.
/// Only shapes whose encoding we reproduce exactly are accepted; anything else (a normalizer, another
/// pre-tokenizer, a post-processor that adds tokens, dropout, non-special added tokens) is refused
/// with one line. Format: huggingface/tokenizers, tokenizers/src/tokenizer/serialization.rs and
/// models/bpe/serialization.rs (merges as "a b" strings or, since 0.20, [a, b] pairs).
/// </summary>
internal static partial class HfTokenizerJson
{
    /// <summary>Largest tokenizer.json read: published byte-level BPE files are 2-10 MB (SmolLM2 2.1 MB, Llama 3 9 MB).</summary>
    public const int MaxFileBytes = 64 << 20;
    /// <summary>Tokens a vocabulary may hold: far above any released model (256k), far below an int.</summary>
    public const int MaxVocabulary = 1 << 22;
    /// <summary>Merge rules: at most one per non-byte token, so bounded by the vocabulary cap.</summary>
    public const int MaxMerges = MaxVocabulary;
    /// <summary>Longest piece, in UTF-16 units: real pieces are tens of characters.</summary>
    public const int MaxPieceChars = 1024;
    private const int MaxDepth = 32;

    /// <summary>What tokenizer.json alone fixes: pieces by id, their types, merges and the pre-tokenizer name.</summary>
    public sealed record Vocabulary(string[] Pieces, PieceType[] Types, BpeMerge[] Merges, string PreTokenizer, string? UnkToken);

    /// <summary>
    /// The tokenizer of a checkpoint from tokenizer.json and tokenizer_config.json (bos/eos/unk/pad
    /// tokens, add_bos_token and add_eos_token; both flags default to false, as GPT2Tokenizer's do).
    /// </summary>
    public static TokenizerIr Read(byte[] json, string path, byte[]? configJson, string configPath)
    {
        var vocab = ReadVocabulary(json, path);
        if (configJson is null)
            throw new HfTokenizerException(HfTokenizerError.MissingField, configPath, "(file)", "(absent)",
                "a byte-level BPE tokenizer.json needs tokenizer_config.json for its bos and eos tokens");
        var index = new Dictionary<string, int>(vocab.Pieces.Length, StringComparer.Ordinal);
        for (int i = 0; i < vocab.Pieces.Length; i++) index[vocab.Pieces[i]] = i;

        using var doc = StrictJson.ParseObject(configJson, HfConfigJson.MaxConfigBytes, MaxDepth, "tokenizer_config.json",
            (failure, field, value, reason, inner) => new HfTokenizerException(
                failure == JsonFailure.TooLarge ? HfTokenizerError.FileTooLarge : HfTokenizerError.BadTokenizerConfig, configPath, field, value, reason, inner));
        var root = doc.RootElement;
        int eos = SpecialToken(root, "eos_token", index, configPath)
            ?? throw new HfTokenizerException(HfTokenizerError.MissingField, configPath, "eos_token", "(absent)", "a byte-level BPE tokenizer needs an end-of-text token");
        // GPT-2's convention (and SmolLM2's config): one <|endoftext|> is bos, eos and unk alike.
        int bos = SpecialToken(root, "bos_token", index, configPath) ?? eos;
        int? unk = SpecialToken(root, "unk_token", index, configPath);
        if (unk is null && vocab.UnkToken is { } modelUnk)
        {
            unk = index.TryGetValue(modelUnk, out int u) ? u
                : throw new HfTokenizerException(HfTokenizerError.BadVocabulary, path, "model.unk_token", modelUnk, "not in the vocabulary");
        }
        int? pad = SpecialToken(root, "pad_token", index, configPath);
        bool addBos = Flag(root, "add_bos_token", configPath);
        bool addEos = Flag(root, "add_eos_token", configPath);
        return new TokenizerIr(vocab.Pieces, new float[vocab.Pieces.Length], vocab.Types,
            // Byte-level BPE never produces an unknown token (every byte has a piece); the IR still names one.
            unk ?? eos, bos, eos, pad, addBos, addEos, SentencePieceModel: null, System.Text.Encoding.UTF8.GetString(configJson))
        {
            Kind = TokenizerKind.ByteLevelBpe,
            Merges = vocab.Merges,
            PreTokenizer = vocab.PreTokenizer,
        };
    }

    /// <summary>The vocabulary, merges and pre-tokenizer of a tokenizer.json, validated.</summary>
    public static Vocabulary ReadVocabulary(byte[] json, string path)
    {
        using var doc = StrictJson.ParseObject(json, MaxFileBytes, MaxDepth, "tokenizer.json",
            (failure, field, value, reason, inner) => new HfTokenizerException(failure switch
            {
                JsonFailure.TooLarge => HfTokenizerError.FileTooLarge,
                JsonFailure.NotObject => HfTokenizerError.NotObject,
                _ => HfTokenizerError.InvalidJson,
            }, path, field, value, reason, inner));
        var r = new Reader(path);
        var root = doc.RootElement;
        r.RequireNull(root, "normalizer", "a normalizer changes the text before splitting; only byte-level BPE without one is supported");
        string pre = r.PreTokenizer(root);
        r.PostProcessor(root);
        r.Decoder(root);
        var model = r.Object(root, "model");
        string type = r.String(model, "model", "type");
        if (type != "BPE") throw r.Error(HfTokenizerError.Unsupported, "model.type", type, "only \"BPE\" models are supported");
        r.RequireNull(model, "model.dropout", "BPE dropout makes encoding random");
        r.RequireEmpty(model, "model.continuing_subword_prefix");
        r.RequireEmpty(model, "model.end_of_word_suffix");
        r.RequireFalse(model, "model.byte_fallback", "byte fallback is sentencepiece's; a byte-level BPE has every byte as a piece");
        r.RequireFalse(model, "model.ignore_merges", "taking whole words from the vocabulary before merging is not reproduced");
        string? unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind != JsonValueKind.Null ? r.Text(u, "model.unk_token") : null;

        var (pieces, index) = r.Pieces(r.Object(model, "model.vocab", "vocab"));
        r.AddedTokens(root, pieces, index);
        var (all, types) = r.Dense(pieces);
        r.CheckByteAlphabet(index);
        var merges = r.Merges(model, index);
        return new Vocabulary(all, types, merges, pre, unk);
    }

    private static int? SpecialToken(JsonElement root, string name, Dictionary<string, int> index, string path)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        // transformers writes a special token as a string or as an AddedToken object {"content": ...}.
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c)) v = c;
        if (v.ValueKind != JsonValueKind.String)
            throw new HfTokenizerException(HfTokenizerError.BadTokenizerConfig, path, name, v.GetRawText(), "must be a string or an object with a string \"content\"");
        string text = new Reader(path).Text(v, name);
        return index.TryGetValue(text, out int id) ? id
            : throw new HfTokenizerException(HfTokenizerError.BadTokenizerConfig, path, name, text, "not a token of tokenizer.json");
    }

    private static bool Flag(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return false;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new HfTokenizerException(HfTokenizerError.BadTokenizerConfig, path, name, v.GetRawText(), "must be true or false"),
        };
    }

    internal static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);
}
