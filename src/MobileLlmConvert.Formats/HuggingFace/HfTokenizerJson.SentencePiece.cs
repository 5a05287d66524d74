using System.Text.Encodings.Web;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.HuggingFace;

internal static partial class HfTokenizerJson
{
    /// <summary>sentencepiece's word-boundary mark (U+2581), which replaces spaces and prefixes the text.</summary>
    private const string SpaceMark = "\u2581";

    /// <summary>True when <see cref="BuildSentencePiece"/> can express <paramref name="tok"/>: a sentencepiece vocabulary with 256 byte pieces.</summary>
    public static bool CanBuildSentencePiece(TokenizerIr tok) =>
        tok.Kind == TokenizerKind.SentencePiece && tok.Types.Count(t => t == PieceType.Byte) == 256;

    /// <summary>
    /// The tokenizer.json of a sentencepiece BPE vocabulary with byte fallback, in the shape transformers'
    /// LlamaConverter writes (src/transformers/convert_slow_tokenizer.py: normalizer Prepend "▁" then
    /// Replace " " with "▁", BPE with byte_fallback and fuse_unk, decoder Replace/ByteFallback/Fuse/Strip).
    /// Merges follow its SentencePieceExtractor: every split of a piece into two pieces of the
    /// vocabulary, ordered by the merged piece's score (highest first), then by the two halves' ids.
    /// </summary>
    public static byte[] BuildSentencePiece(TokenizerIr tok)
    {
        if (!CanBuildSentencePiece(tok)) throw new ArgumentException("only a sentencepiece vocabulary with byte pieces has a byte-fallback tokenizer.json", nameof(tok));
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < tok.Count; id++)
        {
            if (IsMergeable(tok.Types[id])) ids.TryAdd(tok.Pieces[id], id);
        }
        var merges = new List<(string L, string R, float Score, int Id, int LId, int RId)>();
        foreach (var (piece, id) in ids)
        {
            for (int cut = 1; cut < piece.Length; cut++)
            {
                if (char.IsLowSurrogate(piece[cut])) continue;
                string l = piece[..cut], r = piece[cut..];
                if (ids.TryGetValue(l, out int lid) && ids.TryGetValue(r, out int rid)) merges.Add((l, r, tok.Scores[id], id, lid, rid));
            }
        }
        merges.Sort((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score)
            : a.Id != b.Id ? a.Id.CompareTo(b.Id) : a.LId != b.LId ? a.LId.CompareTo(b.LId) : a.RId.CompareTo(b.RId));

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            WriteHead(w, tok, type => type is PieceType.Control or PieceType.Unknown);
            w.WriteStartObject("normalizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("normalizers");
            w.WriteStartObject();
            w.WriteString("type", "Prepend");
            w.WriteString("prepend", SpaceMark);
            w.WriteEndObject();
            WriteReplace(w, " ", SpaceMark);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteNull("pre_tokenizer");
            WriteTemplate(w, tok);
            w.WriteStartObject("decoder");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("decoders");
            WriteReplace(w, SpaceMark, " ");
            w.WriteStartObject();
            w.WriteString("type", "ByteFallback");
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "Fuse");
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "Strip");
            w.WriteString("content", " ");
            w.WriteNumber("start", 1);
            w.WriteNumber("stop", 0);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteString("unk_token", tok.Pieces[tok.UnkId]);
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", true);
            w.WriteBoolean("byte_fallback", true);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            var written = new HashSet<string>(StringComparer.Ordinal);
            for (int id = 0; id < tok.Count; id++)
            {
                if (written.Add(tok.Pieces[id])) w.WriteNumber(tok.Pieces[id], id);
            }
            w.WriteEndObject();
            WriteMerges(w, merges.Select(m => (m.L, m.R)));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// BOS/EOS as the tokenizer adds them (add_bos/add_eos), as LlamaConverter's TemplateProcessing
    /// post-processor: consumers of tokenizer.json alone (ONNX Runtime GenAI) add them from here.
    /// </summary>
    private static void WriteTemplate(Utf8JsonWriter w, TokenizerIr tok)
    {
        if (!tok.AddBos && !tok.AddEos)
        {
            w.WriteNull("post_processor");
            return;
        }
        string bos = tok.Pieces[tok.BosId], eos = tok.Pieces[tok.EosId];
        void Special(string piece, int typeId)
        {
            w.WriteStartObject();
            w.WriteStartObject("SpecialToken");
            w.WriteString("id", piece);
            w.WriteNumber("type_id", typeId);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        void Sequence(string id, int typeId)
        {
            w.WriteStartObject();
            w.WriteStartObject("Sequence");
            w.WriteString("id", id);
            w.WriteNumber("type_id", typeId);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        if (tok.AddBos) Special(bos, 0);
        Sequence("A", 0);
        if (tok.AddEos) Special(eos, 0);
        w.WriteEndArray();
        w.WriteStartArray("pair");
        if (tok.AddBos) Special(bos, 0);
        Sequence("A", 0);
        if (tok.AddEos) Special(eos, 0);
        if (tok.AddBos) Special(bos, 1);
        Sequence("B", 1);
        if (tok.AddEos) Special(eos, 1);
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        foreach (var (piece, id) in new[] { (bos, tok.BosId), (eos, tok.EosId) }.Where(p => p.Item1 == bos ? tok.AddBos : tok.AddEos).Distinct())
        {
            w.WriteStartObject(piece);
            w.WriteString("id", piece);
            w.WriteStartArray("ids");
            w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(piece);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static bool IsMergeable(PieceType type) => type is PieceType.Normal or PieceType.UserDefined;

    private static void WriteReplace(Utf8JsonWriter w, string pattern, string content)
    {
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("String", pattern);
        w.WriteEndObject();
        w.WriteString("content", content);
        w.WriteEndObject();
    }
}
