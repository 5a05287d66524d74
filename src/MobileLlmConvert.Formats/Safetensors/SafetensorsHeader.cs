using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using MobileLlmConvert.Formats.Json;

namespace MobileLlmConvert.Formats.Safetensors;

/// <summary>One tensor of a safetensors header. Offsets are relative to the data buffer (after the header).</summary>
internal sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
}

/// <summary>A validated header: entries in data order (ascending offsets) and the string metadata.</summary>
internal sealed record SafetensorsHeader(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

/// <summary>
/// Validates the 8-byte prefix and the JSON header of a safetensors file against every rule of
/// formats/safetensors.md. Pure function of the bytes: the reader maps the file, the fuzz entry point
/// and the hostile-file tests call it on arrays.
/// </summary>
internal static class SafetensorsHeaderParser
{
    private const string MetadataKey = "__metadata__";
    private static readonly string[] EntryKeys = ["dtype", "shape", "data_offsets"];

    /// <param name="read">Reads (offset, length) from the file: the first min(8 + N, file length) bytes are read through it.</param>
    /// <param name="fileLength">Total file length; the data buffer is what follows the header.</param>
    /// <param name="path">The file's name for messages.</param>
    public static SafetensorsHeader Parse(Func<long, long, ReadOnlySpan<byte>> read, long fileLength, string path)
    {
        if (fileLength < 8)
            throw new SafetensorsException(SafetensorsError.FileTooShort, path, "file length", fileLength.ToString(), "a safetensors file starts with an 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(read(0, 8));
        if (n > SafetensorsFile.MaxHeaderBytes)
            throw new SafetensorsException(SafetensorsError.HeaderTooLarge, path, "header length", n.ToString(), $"exceeds the cap of {SafetensorsFile.MaxHeaderBytes} bytes");
        if ((long)n > fileLength - 8)
            throw new SafetensorsException(SafetensorsError.HeaderPastEnd, path, "header length", n.ToString(), $"only {fileLength - 8} bytes follow the length prefix");
        long dataStart = 8 + (long)n;
        return ParseJson(read(8, (long)n), fileLength - dataStart, dataStart, path);
    }

    public static SafetensorsHeader Parse(ReadOnlySpan<byte> file, string path)
    {
        var copy = file.ToArray();
        return Parse((o, l) => copy.AsSpan(checked((int)o), checked((int)l)), copy.Length, path);
    }

    private static SafetensorsHeader ParseJson(ReadOnlySpan<byte> json, long bufferLength, long dataStart, string path)
    {
        if (!Utf8.IsValid(json))
            throw new SafetensorsException(SafetensorsError.InvalidUtf8, path, "header", FirstBadUtf8(json), "header is not valid UTF-8");
        // Duplicates are detected by hand below so that the error can name the duplicate.
        var doc = StrictJson.Parse(json, new JsonDocumentOptions { AllowDuplicateProperties = true, MaxDepth = 8 }, "header",
            (failure, _, value, reason, inner) => new SafetensorsException(failure == JsonFailure.InvalidUtf8 ? SafetensorsError.InvalidUtf8 : SafetensorsError.InvalidJson,
                path, "header", value, failure == JsonFailure.Invalid && inner is not null ? "header is not valid JSON" : reason, inner));
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafetensorsException(SafetensorsError.HeaderNotObject, path, "header", root.ValueKind.ToString(), "header must be a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in root.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw new SafetensorsException(SafetensorsError.DuplicateName, path, prop.Name, "(twice)", "name appears more than once in the header");
                if (prop.Name == MetadataKey) ReadMetadata(prop.Value, metadata, path);
                else entries.Add(ReadEntry(prop.Name, prop.Value, path));
            }
            CheckLayout(entries, bufferLength, path);
            return new SafetensorsHeader(entries, metadata, dataStart);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsException(SafetensorsError.BadMetadata, path, MetadataKey, value.ValueKind.ToString(), "must be an object of strings");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsException(SafetensorsError.BadMetadata, path, $"{MetadataKey}.{p.Name}", p.Value.GetRawText(), "metadata values must be strings");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
                throw new SafetensorsException(SafetensorsError.DuplicateName, path, $"{MetadataKey}.{p.Name}", "(twice)", "metadata key appears more than once");
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsException(SafetensorsError.BadEntry, path, name, value.ValueKind.ToString(), "tensor entry must be an object");
        JsonElement? dtype = null, shape = null, offsets = null;
        foreach (var p in value.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype": Set(ref dtype, p, name, path); break;
                case "shape": Set(ref shape, p, name, path); break;
                case "data_offsets": Set(ref offsets, p, name, path); break;
                default:
                    throw new SafetensorsException(SafetensorsError.BadEntry, path, $"{name}.{p.Name}", p.Value.GetRawText(), $"unknown key (an entry has only {string.Join(", ", EntryKeys)})");
            }
        }
        if (dtype is not { } d || shape is not { } s || offsets is not { } o)
        {
            string missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new SafetensorsException(SafetensorsError.BadEntry, path, $"{name}.{missing}", "(absent)", "required key missing");
        }
        if (d.ValueKind != JsonValueKind.String)
            throw new SafetensorsException(SafetensorsError.BadEntry, path, $"{name}.dtype", d.GetRawText(), "must be a string");
        string dtypeName = d.GetString()!;
        var row = SafetensorsDTypes.Find(dtypeName)
            ?? throw new SafetensorsException(SafetensorsError.UnknownDType, path, $"{name}.dtype", dtypeName, "not a safetensors dtype");
        if (s.ValueKind != JsonValueKind.Array)
            throw new SafetensorsException(SafetensorsError.BadEntry, path, $"{name}.shape", s.GetRawText(), "must be an array of integers");
        if (s.GetArrayLength() > SafetensorsFile.MaxRank)
            throw new SafetensorsException(SafetensorsError.BadShape, path, $"{name}.shape", s.GetRawText(), $"more than {SafetensorsFile.MaxRank} dimensions");
        var dims = new long[s.GetArrayLength()];
        int i = 0;
        foreach (var dim in s.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long v) || v < 0)
                throw new SafetensorsException(SafetensorsError.BadShape, path, $"{name}.shape", s.GetRawText(), "dimensions must be non-negative integers");
            dims[i++] = v;
        }
        if (o.ValueKind != JsonValueKind.Array || o.GetArrayLength() != 2)
            throw new SafetensorsException(SafetensorsError.BadOffsets, path, $"{name}.data_offsets", o.GetRawText(), "must be [begin, end]");
        if (!o[0].TryGetNonNegative(out long begin) || !o[1].TryGetNonNegative(out long end) || end < begin)
            throw new SafetensorsException(SafetensorsError.BadOffsets, path, $"{name}.data_offsets", o.GetRawText(), "must be integers with 0 <= begin <= end");

        long bytes;
        try
        {
            long elements = 1;
            foreach (var dim in dims) elements = checked(elements * dim);
            long bits = checked(elements * row.Bits);
            if (bits % 8 != 0)
                throw new SafetensorsException(SafetensorsError.SizeMismatch, path, $"{name}.shape", s.GetRawText(), $"{elements} x {row.Bits}-bit {dtypeName} values is not a whole number of bytes");
            bytes = bits / 8;
        }
        catch (OverflowException)
        {
            throw new SafetensorsException(SafetensorsError.BadShape, path, $"{name}.shape", s.GetRawText(), "element count overflows");
        }
        if (bytes != end - begin)
            throw new SafetensorsException(SafetensorsError.SizeMismatch, path, $"{name}.data_offsets", o.GetRawText(),
                $"{dtypeName} {s.GetRawText()} needs {bytes} bytes, offsets span {end - begin}");
        return new SafetensorsEntry(name, dtypeName, dims, begin, end);
    }

    private static void Set(ref JsonElement? slot, JsonProperty p, string name, string path)
    {
        if (slot is not null)
            throw new SafetensorsException(SafetensorsError.DuplicateName, path, $"{name}.{p.Name}", "(twice)", "key appears more than once in the entry");
        slot = p.Value;
    }

    private static bool TryGetNonNegative(this JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value) && value >= 0;
    }

    /// <summary>Sorts by offset and walks the buffer: it must be tiled exactly, from 0 to its end.</summary>
    private static void CheckLayout(List<SafetensorsEntry> entries, long bufferLength, string path)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long cursor = 0;
        foreach (var e in entries)
        {
            if (e.Begin > cursor)
                throw new SafetensorsException(SafetensorsError.DataHole, path, $"{e.Name}.data_offsets", $"[{e.Begin}, {e.End}]",
                    $"bytes {cursor}..{e.Begin} belong to no tensor");
            if (e.Begin < cursor)
                throw new SafetensorsException(SafetensorsError.DataOverlap, path, $"{e.Name}.data_offsets", $"[{e.Begin}, {e.End}]",
                    $"overlaps a tensor ending at {cursor}");
            if (e.End > bufferLength)
                throw new SafetensorsException(SafetensorsError.OffsetsPastEnd, path, $"{e.Name}.data_offsets", $"[{e.Begin}, {e.End}]",
                    $"the data buffer has {bufferLength} bytes");
            cursor = e.End;
        }
        if (cursor != bufferLength)
            throw new SafetensorsException(SafetensorsError.TrailingBytes, path, "data buffer", $"{bufferLength} bytes",
                $"tensors end at {cursor}; {bufferLength - cursor} trailing bytes");
    }

    private static string FirstBadUtf8(ReadOnlySpan<byte> json)
    {
        int valid = 0;
        while (valid < json.Length)
        {
            var status = System.Text.Rune.DecodeFromUtf8(json[valid..], out _, out int consumed);
            if (status != System.Buffers.OperationStatus.Done) break;
            valid += consumed;
        }
        return $"byte 0x{json[valid]:X2} at header offset {valid}";
    }
}
