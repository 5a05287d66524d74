using System.Globalization;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>Typed access to required and optional keys; each failure is a <see cref="GgufException"/> naming the key.</summary>
internal static class GgufMetadataAccess
{
    public static string RequireString(this GgufMetadata m, string key) =>
        m.OptionalString(key) ?? throw Missing(m, key);

    public static string? OptionalString(this GgufMetadata m, string key)
    {
        if (!m.TryGet(key, out var v)) return null;
        return v.Value as string ?? throw WrongType(m, key, v, "a string");
    }

    public static int RequireInt(this GgufMetadata m, string key, int min, int max) =>
        m.OptionalInt(key, min, max) ?? throw Missing(m, key);

    /// <summary>Any integer type is accepted (gguf-py writes uint32; other writers use other widths) when the value is in range.</summary>
    public static int? OptionalInt(this GgufMetadata m, string key, int min, int max)
    {
        if (!m.TryGet(key, out var v)) return null;
        if (!v.IsInteger) throw WrongType(m, key, v, "an integer");
        long? n = v.AsInteger();
        if (n is null || n < min || n > max)
            throw new GgufException(GgufError.BadKeyValue, m.Path, key, v.ToString(), $"must be in {min}..{max}");
        return (int)n.Value;
    }

    public static float RequirePositiveFloat(this GgufMetadata m, string key) =>
        m.OptionalPositiveFloat(key) ?? throw Missing(m, key);

    public static float? OptionalPositiveFloat(this GgufMetadata m, string key)
    {
        if (!m.TryGet(key, out var v)) return null;
        float f = v.Value switch
        {
            float x => x,
            double d => (float)d,
            _ => throw WrongType(m, key, v, "a float32"),
        };
        if (!(f > 0) || !float.IsFinite(f))
            throw new GgufException(GgufError.BadKeyValue, m.Path, key, v.ToString(), "must be a positive finite number");
        return f;
    }

    public static bool? OptionalBool(this GgufMetadata m, string key)
    {
        if (!m.TryGet(key, out var v)) return null;
        return v.Value is bool b ? b : throw WrongType(m, key, v, "a bool");
    }

    /// <summary>An array whose elements are all <typeparamref name="T"/> (string[], float[], int[]).</summary>
    public static T[]? OptionalArray<T>(this GgufMetadata m, string key, GgufValueType elementType)
    {
        if (!m.TryGet(key, out var v)) return null;
        if (v.Value is GgufArray a && a.ElementType == elementType && a.Items is T[] items) return items;
        throw WrongType(m, key, v, $"an array of {elementType}");
    }

    public static GgufException Missing(GgufMetadata m, string key) =>
        new(GgufError.MissingKey, m.Path, key, "(absent)", "required key is missing");

    public static GgufException WrongType(GgufMetadata m, string key, GgufValue v, string expected) =>
        new(GgufError.WrongKeyType, m.Path, key, v.Type == GgufValueType.Array ? v.ToString() : $"{v} ({v.Type})", $"must be {expected}");

    public static string Text(long v) => v.ToString(CultureInfo.InvariantCulture);
}
