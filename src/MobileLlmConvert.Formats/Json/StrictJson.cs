using System.Globalization;
using System.Text.Json;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>The ways a small JSON file of a checkpoint (config.json, the shard index) can be unreadable.</summary>
internal enum HfJsonFailure
{
    TooLarge,
    Invalid,
    NotObject,
}

/// <summary>
/// The reading rules config.json and model.safetensors.index.json share: a size cap, a full UTF-8
/// check (JsonDocument validates UTF-8 only when a string is read, so invalid bytes elsewhere would
/// pass silently), a depth cap, and an object at the root. Each caller turns a failure into its own
/// format's exception kind.
/// </summary>
internal static class HfJson
{
    public delegate Exception ErrorFactory(HfJsonFailure failure, string field, string value, string reason, Exception? inner);

    /// <summary>Parses <paramref name="json"/>; the caller disposes the document. <paramref name="what"/> names the file in messages.</summary>
    public static JsonDocument ParseObject(byte[] json, int maxBytes, int maxDepth, string what, ErrorFactory error)
    {
        if (json.Length > maxBytes)
            throw error(HfJsonFailure.TooLarge, "file length", json.Length.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {maxBytes} bytes", null);
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw error(HfJsonFailure.Invalid, "(json)", "invalid UTF-8", $"{what} must be UTF-8 text", null);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = maxDepth });
        }
        catch (JsonException e)
        {
            throw error(HfJsonFailure.Invalid, "(json)", $"line {e.LineNumber}, byte {e.BytePositionInLine}", "not valid JSON", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = doc.RootElement.ValueKind.ToString();
            doc.Dispose();
            throw error(HfJsonFailure.NotObject, "(root)", kind, $"{what} must be a JSON object", null);
        }
        return doc;
    }
}
