using System.Text.Encodings.Web;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.HuggingFace;

internal static partial class HfTokenizerJson
{
    /// <summary>
    /// The canonical tokenizer.json of a byte-level BPE <see cref="TokenizerIr"/>: every piece in
    /// model.vocab, control pieces also in added_tokens (special), merges as [a, b] pairs, the
    /// pre-tokenizer's Hugging Face shape, ByteLevel decoder. Deterministic (the same IR gives the
    /// same bytes) and read back by <see cref="ReadVocabulary"/> to the same pieces, types and merges.
    /// </summary>
    public static byte[] Build(TokenizerIr tok)
    {
        if (tok.Kind != TokenizerKind.ByteLevelBpe || tok.Merges is null || !BpePreTokenizers.IsKnown(tok.PreTokenizer))
            throw new ArgumentException("only a byte-level BPE tokenizer with merges and a known pre-tokenizer has a tokenizer.json", nameof(tok));
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            WriteHead(w, tok, type => type == PieceType.Control);
            w.WriteNull("normalizer");
            w.WritePropertyName("pre_tokenizer");
            WritePreTokenizer(w, tok.PreTokenizer!);
            w.WriteNull("post_processor");
            w.WritePropertyName("decoder");
            WriteByteLevel(w, useRegex: true);
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (int id = 0; id < tok.Count; id++) w.WriteNumber(tok.Pieces[id], id);
            w.WriteEndObject();
            WriteMerges(w, tok.Merges.Select(m => (m.Left, m.Right)));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// The fields both tokenizer.json shapes open with: version, no truncation or padding, and
    /// "added_tokens": every piece whose type <paramref name="special"/> accepts, as a special token
    /// matched before the model runs.
    /// </summary>
    private static void WriteHead(Utf8JsonWriter w, TokenizerIr tok, Func<PieceType, bool> special)
    {
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        for (int id = 0; id < tok.Count; id++)
        {
            if (!special(tok.Types[id])) continue;
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", tok.Pieces[id]);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>The model's "merges" as [left, right] pairs in rank order (the tokenizers library's current form, not "left right" strings).</summary>
    private static void WriteMerges(Utf8JsonWriter w, IEnumerable<(string Left, string Right)> merges)
    {
        w.WriteStartArray("merges");
        foreach (var (left, right) in merges)
        {
            w.WriteStartArray();
            w.WriteStringValue(left);
            w.WriteStringValue(right);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    /// <summary>The Hugging Face shape of each <see cref="BpePreTokenizers"/> name (the inverse of Reader.PreTokenizer).</summary>
    private static void WritePreTokenizer(Utf8JsonWriter w, string name)
    {
        switch (name)
        {
            case BpePreTokenizers.Gpt2:
                WriteByteLevel(w, useRegex: true);
                break;
            case BpePreTokenizers.SmolLm:
                w.WriteStartObject();
                w.WriteString("type", "Sequence");
                w.WriteStartArray("pretokenizers");
                w.WriteStartObject();
                w.WriteString("type", "Digits");
                w.WriteBoolean("individual_digits", true);
                w.WriteEndObject();
                WriteByteLevel(w, useRegex: true);
                w.WriteEndArray();
                w.WriteEndObject();
                break;
            default:
                throw new ArgumentException($"no tokenizer.json shape for pre-tokenizer '{name}'", nameof(name));
        }
    }

    private static void WriteByteLevel(Utf8JsonWriter w, bool useRegex)
    {
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", useRegex);
        w.WriteEndObject();
    }
}
