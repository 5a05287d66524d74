using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.HuggingFace;

internal static partial class HfTokenizerJson
{
    /// <summary>Field-by-field reading of tokenizer.json; every failure is one <see cref="HfTokenizerException"/>.</summary>
    private sealed class Reader(string path)
    {
        public HfTokenizerException Error(HfTokenizerError kind, string field, string value, string reason) => new(kind, path, field, value, reason);

        public JsonElement Object(JsonElement parent, string field, string? property = null)
        {
            if (!parent.TryGetProperty(property ?? field, out var v))
                throw Error(HfTokenizerError.MissingField, field, "(absent)", "required");
            if (v.ValueKind != JsonValueKind.Object) throw Error(HfTokenizerError.WrongType, field, Raw(v), "must be an object");
            return v;
        }

        public string String(JsonElement parent, string prefix, string property)
        {
            string field = $"{prefix}.{property}";
            if (!parent.TryGetProperty(property, out var v)) throw Error(HfTokenizerError.MissingField, field, "(absent)", "required");
            return Text(v, field);
        }

        /// <summary>A JSON string as .NET text: capped, and with no lone surrogate (an escape like "\ud800" is not text).</summary>
        public string Text(JsonElement v, string field)
        {
            if (v.ValueKind != JsonValueKind.String) throw Error(HfTokenizerError.WrongType, field, Raw(v), "must be a string");
            string s;
            try
            {
                s = v.GetString()!;
            }
            catch (InvalidOperationException)
            {
                throw Error(HfTokenizerError.InvalidJson, field, Raw(v), "not a valid UTF-16 string (a lone surrogate escape?)");
            }
            return Checked(s, field);
        }

        private string Checked(string s, string field)
        {
            if (s.Length > MaxPieceChars) throw Error(HfTokenizerError.OutOfRange, field, $"{s.Length} characters", $"exceeds the cap of {MaxPieceChars}");
            for (int i = 0; i < s.Length; i++)
            {
                if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
                if (char.IsSurrogate(s[i]))
                    throw Error(HfTokenizerError.InvalidJson, field, $"U+{(int)s[i]:X4} at character {i}", "a lone surrogate is not text");
            }
            return s;
        }

        public void RequireNull(JsonElement parent, string field, string reason)
        {
            string property = field[(field.LastIndexOf('.') + 1)..];
            if (parent.TryGetProperty(property, out var v) && v.ValueKind != JsonValueKind.Null)
                throw Error(HfTokenizerError.Unsupported, field, Raw(v), reason);
        }

        public void RequireEmpty(JsonElement parent, string field)
        {
            string property = field[(field.LastIndexOf('.') + 1)..];
            if (parent.TryGetProperty(property, out var v) && v.ValueKind != JsonValueKind.Null && !(v.ValueKind == JsonValueKind.String && v.GetString() == ""))
                throw Error(HfTokenizerError.Unsupported, field, Raw(v), "subword prefixes and suffixes are not byte-level BPE");
        }

        public void RequireFalse(JsonElement parent, string field, string reason)
        {
            string property = field[(field.LastIndexOf('.') + 1)..];
            if (!parent.TryGetProperty(property, out var v) || v.ValueKind is JsonValueKind.Null or JsonValueKind.False) return;
            if (v.ValueKind == JsonValueKind.True) throw Error(HfTokenizerError.Unsupported, field, "true", reason);
            throw Error(HfTokenizerError.WrongType, field, Raw(v), "must be true or false");
        }

        private bool Bool(JsonElement parent, string prefix, string property, bool fallback)
        {
            if (!parent.TryGetProperty(property, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(HfTokenizerError.WrongType, $"{prefix}.{property}", Raw(v), "must be true or false"),
            };
        }

        /// <summary>
        /// The llama.cpp name of the pre-tokenizer (<see cref="BpePreTokenizers"/>), for the shapes that
        /// split exactly as it does: ByteLevel with its regex; Digits(individual) then ByteLevel
        /// (SmolLM2); a Split on GPT-2's regex then ByteLevel without one. add_prefix_space must be false.
        /// </summary>
        public string PreTokenizer(JsonElement root)
        {
            var p = Object(root, "pre_tokenizer");
            string type = String(p, "pre_tokenizer", "type");
            if (type == "ByteLevel" && ByteLevel(p, "pre_tokenizer", useRegex: true)) return BpePreTokenizers.Gpt2;
            if (type == "Sequence" && p.TryGetProperty("pretokenizers", out var seq) && seq.ValueKind == JsonValueKind.Array && seq.GetArrayLength() == 2)
            {
                var first = seq[0];
                var second = seq[1];
                if (first.ValueKind == JsonValueKind.Object && second.ValueKind == JsonValueKind.Object
                    && second.TryGetProperty("type", out var t2) && t2.ValueKind == JsonValueKind.String && t2.GetString() == "ByteLevel"
                    && first.TryGetProperty("type", out var t1) && t1.ValueKind == JsonValueKind.String)
                {
                    if (t1.GetString() == "Digits" && Bool(first, "pre_tokenizer.pretokenizers[0]", "individual_digits", false)
                        && ByteLevel(second, "pre_tokenizer.pretokenizers[1]", useRegex: true))
                        return BpePreTokenizers.SmolLm;
                    if (t1.GetString() == "Split" && IsGpt2Split(first) && ByteLevel(second, "pre_tokenizer.pretokenizers[1]", useRegex: false))
                        return BpePreTokenizers.Gpt2;
                }
            }
            throw Error(HfTokenizerError.Unsupported, "pre_tokenizer", Raw(p),
                "only ByteLevel (GPT-2 regex), Sequence[Digits(individual_digits), ByteLevel] and Sequence[Split(GPT-2 regex), ByteLevel(use_regex=false)] are reproduced exactly");
        }

        private bool ByteLevel(JsonElement p, string prefix, bool useRegex)
        {
            if (Bool(p, prefix, "add_prefix_space", true))
                throw Error(HfTokenizerError.Unsupported, $"{prefix}.add_prefix_space", "true", "a prefix space is not added by llama.cpp's byte-level BPE");
            return Bool(p, prefix, "use_regex", true) == useRegex;
        }

        private bool IsGpt2Split(JsonElement split)
        {
            if (!split.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object
                || !pattern.TryGetProperty("Regex", out var regex) || regex.ValueKind != JsonValueKind.String) return false;
            string r = Text(regex, "pre_tokenizer.pretokenizers[0].pattern.Regex");
            bool isolated = split.TryGetProperty("behavior", out var b) && b.ValueKind == JsonValueKind.String && b.GetString() == "Isolated";
            bool inverted = Bool(split, "pre_tokenizer.pretokenizers[0]", "invert", false);
            // GPT-2's regex with or without the final "|\s+" (they split alike: llama.cpp omits it).
            return isolated && !inverted && (r == BpePreTokenizers.Gpt2Regex || r + @"|\s+" == BpePreTokenizers.Gpt2Regex);
        }

        /// <summary>A post-processor may only trim offsets (ByteLevel): one that adds tokens (TemplateProcessing) is refused.</summary>
        public void PostProcessor(JsonElement root)
        {
            if (!root.TryGetProperty("post_processor", out var p) || p.ValueKind == JsonValueKind.Null) return;
            string type = p.ValueKind == JsonValueKind.Object ? String(p, "post_processor", "type") : Raw(p);
            if (type != "ByteLevel")
                throw Error(HfTokenizerError.Unsupported, "post_processor.type", type, "a post-processor that adds tokens is not reproduced; use add_bos_token in tokenizer_config.json");
        }

        public void Decoder(JsonElement root)
        {
            var d = Object(root, "decoder");
            string type = String(d, "decoder", "type");
            if (type != "ByteLevel") throw Error(HfTokenizerError.Unsupported, "decoder.type", type, "a byte-level BPE decodes with the ByteLevel decoder");
        }

        /// <summary>model.vocab: piece -> id, no piece twice, ids in range (gaps are checked once added tokens are in).</summary>
        public (List<string?> Pieces, Dictionary<string, int> Index) Pieces(JsonElement vocab)
        {
            var pieces = new List<string?>();
            var index = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var prop in vocab.EnumerateObject())
            {
                if (index.Count >= MaxVocabulary) throw Error(HfTokenizerError.OutOfRange, "model.vocab", $"more than {MaxVocabulary} entries", "exceeds the vocabulary cap");
                string piece;
                try
                {
                    piece = Checked(prop.Name, "model.vocab");
                }
                catch (InvalidOperationException)
                {
                    throw Error(HfTokenizerError.InvalidJson, "model.vocab", "(key)", "not a valid UTF-16 string (a lone surrogate escape?)");
                }
                string field = $"model.vocab[{Quote(piece)}]";
                if (piece.Length == 0) throw Error(HfTokenizerError.BadVocabulary, field, "\"\"", "an empty piece");
                int id = Id(prop.Value, field);
                if (!index.TryAdd(piece, id)) throw Error(HfTokenizerError.BadVocabulary, field, Count(id), "the piece appears twice");
                Place(pieces, id, piece, field);
            }
            return (pieces, index);
        }

        private int Id(JsonElement v, string field)
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int id)) throw Error(HfTokenizerError.WrongType, field, Raw(v), "an id must be an integer");
            if (id < 0 || id >= MaxVocabulary) throw Error(HfTokenizerError.OutOfRange, field, Count(id), $"ids are 0..{MaxVocabulary - 1}");
            return id;
        }

        private void Place(List<string?> pieces, int id, string piece, string field)
        {
            while (pieces.Count <= id) pieces.Add(null);
            if (pieces[id] is { } other && other != piece)
                throw Error(HfTokenizerError.BadVocabulary, field, Count(id), $"id already holds {Quote(other)}");
            pieces[id] = piece;
        }

        /// <summary>added_tokens: special ones become control pieces; non-special ones would be matched in text, which we do not reproduce.</summary>
        public void AddedTokens(JsonElement root, List<string?> pieces, Dictionary<string, int> index)
        {
            if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null) return;
            if (added.ValueKind != JsonValueKind.Array) throw Error(HfTokenizerError.WrongType, "added_tokens", Raw(added), "must be an array");
            if (added.GetArrayLength() > MaxVocabulary) throw Error(HfTokenizerError.OutOfRange, "added_tokens", Count(added.GetArrayLength()), "exceeds the vocabulary cap");
            var special = new List<int>();
            int i = 0;
            foreach (var t in added.EnumerateArray())
            {
                string field = $"added_tokens[{i++}]";
                if (t.ValueKind != JsonValueKind.Object) throw Error(HfTokenizerError.WrongType, field, Raw(t), "must be an object");
                int id = t.TryGetProperty("id", out var idv) ? Id(idv, $"{field}.id") : throw Error(HfTokenizerError.MissingField, $"{field}.id", "(absent)", "required");
                string content = String(t, field, "content");
                if (content.Length == 0) throw Error(HfTokenizerError.BadVocabulary, $"{field}.content", "\"\"", "an empty token");
                if (!Bool(t, field, "special", false))
                    throw Error(HfTokenizerError.Unsupported, $"{field}.special", "false", $"non-special added token {Quote(content)} would be matched in text; not reproduced");
                if (index.TryGetValue(content, out int existing) && existing != id)
                    throw Error(HfTokenizerError.BadVocabulary, $"{field}.content", Quote(content), $"already the piece of id {existing}");
                index[content] = id;
                Place(pieces, id, content, $"{field}.id");
                special.Add(id);
            }
            _special = special;
        }

        private List<int> _special = [];

        /// <summary>The pieces as a dense array: every id 0..n-1 has exactly one piece.</summary>
        public (string[] Pieces, PieceType[] Types) Dense(List<string?> pieces)
        {
            if (pieces.Count == 0) throw Error(HfTokenizerError.BadVocabulary, "model.vocab", "{}", "the vocabulary is empty");
            var all = new string[pieces.Count];
            for (int id = 0; id < all.Length; id++)
                all[id] = pieces[id] ?? throw Error(HfTokenizerError.BadVocabulary, "model.vocab", Count(id), "no piece has this id, but higher ids exist");
            var types = new PieceType[all.Length];
            Array.Fill(types, PieceType.Normal);
            foreach (int id in _special) types[id] = PieceType.Control;
            return (all, types);
        }

        /// <summary>Every byte must have its piece, or some text would have no encoding.</summary>
        public void CheckByteAlphabet(Dictionary<string, int> index)
        {
            for (int b = 0; b < 256; b++)
            {
                string piece = ByteLevelAlphabet.CharOf((byte)b).ToString();
                if (!index.ContainsKey(piece))
                    throw Error(HfTokenizerError.BadVocabulary, "model.vocab", Quote(piece), $"byte 0x{b:X2} has no piece; a byte-level vocabulary spells all 256 bytes");
            }
        }

        /// <summary>model.merges: pairs of vocabulary pieces whose concatenation is a piece too (tokenizers' MergeTokenOutOfVocabulary).</summary>
        public BpeMerge[] Merges(JsonElement model, Dictionary<string, int> index)
        {
            if (!model.TryGetProperty("merges", out var merges)) throw Error(HfTokenizerError.MissingField, "model.merges", "(absent)", "required");
            if (merges.ValueKind != JsonValueKind.Array) throw Error(HfTokenizerError.WrongType, "model.merges", Raw(merges), "must be an array");
            if (merges.GetArrayLength() > MaxMerges) throw Error(HfTokenizerError.OutOfRange, "model.merges", Count(merges.GetArrayLength()), $"exceeds the cap of {MaxMerges}");
            var result = new BpeMerge[merges.GetArrayLength()];
            var seen = new HashSet<BpeMerge>();
            int i = 0;
            foreach (var m in merges.EnumerateArray())
            {
                string field = $"model.merges[{i}]";
                BpeMerge merge;
                if (m.ValueKind == JsonValueKind.String)
                {
                    string line = Text(m, field);
                    int space = line.IndexOf(' ');
                    if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                        throw Error(HfTokenizerError.BadMerge, field, Quote(line), "a merge string is two pieces separated by one space");
                    merge = new BpeMerge(line[..space], line[(space + 1)..]);
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                {
                    merge = new BpeMerge(Text(m[0], $"{field}[0]"), Text(m[1], $"{field}[1]"));
                    // GGUF stores merges as "a b" (llama.cpp splits at the first space after the first character).
                    if (merge.Left.Contains(' ') || merge.Right.Contains(' '))
                        throw Error(HfTokenizerError.Unsupported, field, Quote($"{merge.Left} {merge.Right}"), "a merge of pieces with spaces cannot be stored in GGUF");
                }
                else throw Error(HfTokenizerError.BadMerge, field, Raw(m), "a merge is a string \"a b\" or an array [a, b]");

                foreach (var part in new[] { merge.Left, merge.Right })
                {
                    if (!index.ContainsKey(part)) throw Error(HfTokenizerError.BadMerge, field, Quote(part), "not a piece of the vocabulary");
                }
                if (!index.ContainsKey(merge.Left + merge.Right))
                    throw Error(HfTokenizerError.BadMerge, field, Quote(merge.Left + merge.Right), "the merged piece is not in the vocabulary");
                if (!seen.Add(merge)) throw Error(HfTokenizerError.BadMerge, field, Quote($"{merge.Left} {merge.Right}"), "the merge appears twice");
                result[i++] = merge;
            }
            return result;
        }

        private static string Raw(JsonElement v) => v.ValueKind == JsonValueKind.Object ? "{...}" : v.ValueKind == JsonValueKind.Array ? "[...]" : v.GetRawText();
    }

    /// <summary>A piece as a JSON string for messages: readable non-ASCII, control characters escaped (one line).</summary>
    private static string Quote(string s) => JsonSerializer.Serialize(s, QuoteOptions);

    private static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
