using System.Globalization;
using System.Text.Json;
using System.Text.Unicode;

namespace MobileLlmConvert.Formats.Json;

/// <summary>The ways a JSON file we read (config.json, the shard index, tokenizer_config.json, a safetensors header, a bundle manifest) can be unreadable.</summary>
internal enum JsonFailure
{
    TooLarge,
    /// <summary>Bytes that are not UTF-8 (RFC 8259 section 8.1: JSON exchanged between systems is UTF-8), including encoded surrogates.</summary>
    InvalidUtf8,
    /// <summary>Not JSON, or a <c>\u</c> escape naming a lone UTF-16 surrogate (no Unicode text; RFC 8259 section 8.2).</summary>
    Invalid,
    NotObject,
}

/// <summary>
/// The one reading rule every JSON reader shares. System.Text.Json checks UTF-8 only inside the
/// strings it is asked to decode and accepts a lone surrogate escape such as <c>"\ud800"</c> until
/// that string is read (then throws InvalidOperationException, not JsonException), so a file could
/// pass or fail depending on which fields a reader happens to look at. Here the whole text is
/// checked up front: valid UTF-8, valid JSON, no lone surrogate escape in any string or property
/// name. Each caller turns a failure into its own format's exception kind.
/// </summary>
internal static class StrictJson
{
    public delegate Exception ErrorFactory(JsonFailure failure, string field, string value, string reason, Exception? inner);

    /// <summary>Parses <paramref name="json"/>; the caller disposes the document. <paramref name="what"/> names the file in messages.</summary>
    public static JsonDocument Parse(ReadOnlySpan<byte> json, JsonDocumentOptions options, string what, ErrorFactory error)
    {
        if (!Utf8.IsValid(json))
            throw error(JsonFailure.InvalidUtf8, "(json)", "invalid UTF-8", $"{what} must be UTF-8 text", null);
        try
        {
            // Escapes first, in a reader pass of its own: JsonDocument decodes property names while
            // parsing when it looks for duplicates, and a lone surrogate there would escape as an
            // InvalidOperationException.
            CheckEscapes(json, options, what, error);
            return JsonDocument.Parse(json.ToArray(), options);
        }
        catch (JsonException e)
        {
            throw error(JsonFailure.Invalid, "(json)", $"line {e.LineNumber}, byte {e.BytePositionInLine}", "not valid JSON", e);
        }
    }

    private static void CheckEscapes(ReadOnlySpan<byte> json, JsonDocumentOptions options, string what, ErrorFactory error)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = options.MaxDepth, CommentHandling = options.CommentHandling, AllowTrailingCommas = options.AllowTrailingCommas });
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName) || !reader.ValueIsEscaped) continue;
            int at = LoneSurrogateEscape(reader.ValueSpan);
            if (at >= 0)
            {
                long offset = reader.TokenStartIndex + 1 + at;
                string escape = System.Text.Encoding.ASCII.GetString(reader.ValueSpan.Slice(at, 6));
                throw error(JsonFailure.Invalid, "(json)", $"{escape} at byte {offset.ToString(CultureInfo.InvariantCulture)}",
                    $"a lone UTF-16 surrogate escape is not text ({what} must be valid Unicode)", null);
            }
        }
    }

    /// <summary>Like <see cref="Parse"/>, with a size cap and an object at the root (config.json, the shard index, tokenizer_config.json).</summary>
    public static JsonDocument ParseObject(ReadOnlySpan<byte> json, int maxBytes, int maxDepth, string what, ErrorFactory error)
    {
        if (json.Length > maxBytes)
            throw error(JsonFailure.TooLarge, "file length", json.Length.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {maxBytes} bytes", null);
        var doc = Parse(json, new JsonDocumentOptions { MaxDepth = maxDepth }, what, error);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = doc.RootElement.ValueKind.ToString();
            doc.Dispose();
            throw error(JsonFailure.NotObject, "(root)", kind, $"{what} must be a JSON object", null);
        }
        return doc;
    }

    /// <summary>
    /// Index in a raw (still escaped) JSON string of the first <c>\uXXXX</c> escape that names a
    /// high surrogate not followed by an escaped low one, or a low surrogate on its own; -1 if none.
    /// The JSON parser has already checked that every escape is well formed.
    /// </summary>
    internal static int LoneSurrogateEscape(ReadOnlySpan<byte> raw)
    {
        int i = 0;
        while (i < raw.Length)
        {
            if (raw[i] != (byte)'\\') { i++; continue; }
            if (raw[i + 1] != (byte)'u') { i += 2; continue; }
            int unit = Hex4(raw.Slice(i + 2, 4));
            if (unit is >= 0xDC00 and <= 0xDFFF) return i;
            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                bool paired = i + 12 <= raw.Length && raw[i + 6] == (byte)'\\' && raw[i + 7] == (byte)'u'
                    && Hex4(raw.Slice(i + 8, 4)) is >= 0xDC00 and <= 0xDFFF;
                if (!paired) return i;
                i += 12;
                continue;
            }
            i += 6;
        }
        return -1;
    }

    private static int Hex4(ReadOnlySpan<byte> digits)
    {
        int value = 0;
        foreach (byte b in digits) value = value * 16 + (b <= (byte)'9' ? b - '0' : (b | 0x20) - 'a' + 10);
        return value;
    }
}
