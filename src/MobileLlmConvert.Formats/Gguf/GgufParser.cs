using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>
/// Parses a GGUF header from untrusted bytes (formats/gguf.md). Every count and length is checked
/// against a named cap and against the bytes left before anything is allocated; every offset and size
/// uses checked arithmetic; the data section must be exactly the tensors at their running padded
/// offsets. These are the checks whose absence made the published GGUF CVEs possible (huge counts
/// and string lengths, array length x element size overflow, n_dims past GGML_MAX_DIMS, offsets past
/// the end, overlapping tensors).
/// </summary>
internal static class GgufParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // Smallest encodings, used to bound counts by the bytes left before allocating anything.
    private const int MinKvBytes = 8 + 1 + 4 + 1;          // key length, one key byte, value type, a uint8 value
    private const int MinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8; // name length, one byte, n_dims, one dim, type, offset

    /// <param name="header">The file's first bytes (the whole file, or <see cref="GgufConstants.MaxHeaderBytes"/> of it).</param>
    /// <param name="fileLength">The file's total length, to check offsets against.</param>
    /// <param name="path">The file's name for messages.</param>
    public static GgufMetadata Parse(ReadOnlySpan<byte> header, long fileLength, string path)
    {
        var r = new Cursor(header, path, header.Length < fileLength);
        if (header.Length < 4 || BinaryPrimitives.ReadUInt32LittleEndian(header) != GgufConstants.Magic)
        {
            var shown = Convert.ToHexString(header[..Math.Min(4, header.Length)]);
            throw new GgufException(GgufError.BadMagic, path, "magic", shown.Length == 0 ? "(empty)" : "0x" + shown, "not a GGUF file (expected the bytes \"GGUF\")");
        }
        r.Skip(4);
        uint version = r.U32("version");
        if (version is < GgufConstants.MinReadVersion or > GgufConstants.MaxReadVersion)
        {
            string why = BinaryPrimitives.ReverseEndianness(version) is >= 1 and <= 3
                ? "a big-endian GGUF; only little-endian files are supported"
                : $"supported versions are {GgufConstants.MinReadVersion} and {GgufConstants.MaxReadVersion}";
            throw new GgufException(GgufError.UnsupportedVersion, path, "version", version.ToString(CultureInfo.InvariantCulture), why);
        }
        ulong tensorCount = r.U64("tensor_count");
        ulong kvCount = r.U64("metadata_kv_count");
        if (kvCount > GgufConstants.MaxKeyCount || (long)kvCount > r.Left / MinKvBytes)
            throw new GgufException(GgufError.TooManyKeys, path, "metadata_kv_count", kvCount.ToString(CultureInfo.InvariantCulture),
                $"cap is {GgufConstants.MaxKeyCount} and {r.Left} bytes left cannot hold that many");
        if (tensorCount > GgufConstants.MaxTensorCount || (long)tensorCount > r.Left / MinTensorInfoBytes)
            throw new GgufException(GgufError.TooManyTensors, path, "tensor_count", tensorCount.ToString(CultureInfo.InvariantCulture),
                $"cap is {GgufConstants.MaxTensorCount} and {r.Left} bytes left cannot hold that many");

        var kvs = new List<KeyValuePair<string, GgufValue>>((int)kvCount);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < (int)kvCount; i++)
        {
            string key = r.String($"metadata[{i}].key", GgufConstants.MaxStringBytes);
            if (key.Length == 0) throw new GgufException(GgufError.InvalidString, path, $"metadata[{i}].key", "\"\"", "empty key");
            if (!keys.Add(key)) throw new GgufException(GgufError.DuplicateKey, path, key, "(second occurrence)", "key appears twice");
            var type = r.ValueType(key);
            kvs.Add(new(key, ReadValue(ref r, type, key, depth: 0)));
        }

        uint alignment = GgufConstants.DefaultAlignment;
        var alignKv = kvs.FirstOrDefault(kv => kv.Key == GgufKeys.Alignment);
        if (alignKv.Value is { } alignValue)
        {
            if (alignValue.Type != GgufValueType.UInt32)
                throw new GgufException(GgufError.BadAlignment, path, GgufKeys.Alignment, alignValue.ToString(), $"must be a uint32, found {alignValue.Type}");
            alignment = (uint)alignValue.Value;
            if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > GgufConstants.MaxAlignment)
                throw new GgufException(GgufError.BadAlignment, path, GgufKeys.Alignment, alignment.ToString(CultureInfo.InvariantCulture),
                    $"must be a power of two no larger than {GgufConstants.MaxAlignment}");
        }

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < (int)tensorCount; i++) tensors.Add(ReadTensorInfo(ref r, i, alignment, names));

        long dataOffset = AlignUp(r.Position, alignment);
        CheckDataSection(path, tensors, dataOffset, fileLength, alignment);
        return new GgufMetadata(path, version, alignment, kvs, tensors, dataOffset, fileLength);
    }

    private static GgufTensorInfo ReadTensorInfo(ref Cursor r, int index, uint alignment, HashSet<string> names)
    {
        string path = r.File;
        string name = r.String($"tensor_infos[{index}].name", GgufConstants.MaxStringBytes);
        if (name.Length == 0) throw new GgufException(GgufError.InvalidString, path, $"tensor_infos[{index}].name", "\"\"", "empty tensor name");
        if (Encoding.UTF8.GetByteCount(name) > GgufConstants.MaxTensorNameBytes)
            throw new GgufException(GgufError.TensorNameTooLong, path, $"tensor_infos[{index}].name", name, $"longer than ggml's {GgufConstants.MaxTensorNameBytes}-byte limit");
        if (!names.Add(name)) throw new GgufException(GgufError.DuplicateTensor, path, name, "(second occurrence)", "tensor name appears twice");
        uint nDims = r.U32(name + ".n_dims");
        if (nDims is < 1 or > GgufConstants.MaxDims)
            throw new GgufException(GgufError.BadDimensionCount, path, name + ".n_dims", nDims.ToString(CultureInfo.InvariantCulture), $"must be 1..{GgufConstants.MaxDims}");
        var dims = new long[nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++)
        {
            ulong dim = r.U64($"{name}.dims[{d}]");
            if (dim == 0 || dim > long.MaxValue)
                throw new GgufException(GgufError.BadDimension, path, $"{name}.dims[{d}]", dim.ToString(CultureInfo.InvariantCulture), "must be positive");
            dims[d] = (long)dim;
            if (elements > long.MaxValue / dims[d])
                throw new GgufException(GgufError.BadDimension, path, name + ".dims", "[" + string.Join(", ", dims.Take(d + 1)) + "]", "element count overflows 64 bits");
            elements *= dims[d];
        }
        uint typeId = r.U32(name + ".type");
        var type = GgufConstants.FindGgmlType(typeId)
            ?? throw new GgufException(GgufError.UnknownTensorType, path, name + ".type", typeId.ToString(CultureInfo.InvariantCulture), "not a ggml type id");
        if (dims[0] % type.BlockValues != 0)
            throw new GgufException(GgufError.BadDimension, path, name + ".dims[0]", dims[0].ToString(CultureInfo.InvariantCulture),
                $"innermost dimension must be whole {type.Name} blocks of {type.BlockValues}");
        long blocks = elements / type.BlockValues;
        if (blocks > long.MaxValue / type.BlockBytes)
            throw new GgufException(GgufError.BadDimension, path, name + ".dims", "[" + string.Join(", ", dims) + "]", "byte size overflows 64 bits");
        ulong offset = r.U64(name + ".offset");
        if (offset > long.MaxValue)
            throw new GgufException(GgufError.OffsetOutOfRange, path, name + ".offset", offset.ToString(CultureInfo.InvariantCulture), "beyond any file");
        if (offset % alignment != 0)
            throw new GgufException(GgufError.MisalignedOffset, path, name + ".offset", offset.ToString(CultureInfo.InvariantCulture), $"not a multiple of the alignment {alignment}");
        return new GgufTensorInfo(name, dims, type, (long)offset, blocks * type.BlockBytes);
    }

    /// <summary>The data section holds exactly the tensors, in declaration order, each at the previous one's padded end: no overlap, no hole, no tail.</summary>
    private static void CheckDataSection(string path, List<GgufTensorInfo> tensors, long dataOffset, long fileLength, uint alignment)
    {
        if (tensors.Count == 0)
        {
            // A file with no tensors may stop before the padding; anything after the padding is a tail.
            if (fileLength > dataOffset)
                throw new GgufException(GgufError.TrailingBytes, path, "data", (fileLength - dataOffset).ToString(CultureInfo.InvariantCulture), "bytes after a header that declares no tensors");
            return;
        }
        if (dataOffset > fileLength)
            throw new GgufException(GgufError.Truncated, path, "data", dataOffset.ToString(CultureInfo.InvariantCulture), $"data section starts past the end of the file ({fileLength} bytes)");
        long dataLength = fileLength - dataOffset;
        foreach (var t in tensors)
        {
            if (t.Offset > dataLength || t.ByteSize > dataLength - t.Offset)
                throw new GgufException(GgufError.OffsetOutOfRange, path, t.Name + ".offset", t.Offset.ToString(CultureInfo.InvariantCulture),
                    $"{t.ByteSize} bytes from there pass the end of the data section ({dataLength} bytes)");
        }
        // Declaration order, not offset order: ggml's gguf.cpp (gguf_init_from_file_impl) requires each
        // tensor info's offset to equal the padded sum of the tensors declared before it ("tensor '%s'
        // has offset %zu, expected %zu"), so a file whose infos are listed out of offset order is
        // refused there and must be refused here too.
        long expected = 0;
        GgufTensorInfo? previous = null;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            if (t.Offset < expected)
            {
                // Offsets are aligned, so one below the running sum lies inside an earlier tensor's bytes.
                var hit = tensors.Take(i).First(o => t.Offset < o.Offset + o.ByteSize);
                throw new GgufException(GgufError.OverlappingTensors, path, t.Name + ".offset", t.Offset.ToString(CultureInfo.InvariantCulture),
                    $"overlaps {hit.Name} at [{hit.Offset}, {hit.Offset + hit.ByteSize})");
            }
            if (t.Offset != expected)
                throw new GgufException(GgufError.DataHole, path, t.Name + ".offset", t.Offset.ToString(CultureInfo.InvariantCulture),
                    $"expected {expected}: in declaration order, each tensor starts at the previous one's padded end");
            expected = AlignUp(t.Offset + t.ByteSize, alignment);
            previous = t;
        }
        long end = previous!.Offset + previous.ByteSize;
        if (dataLength > expected)
            throw new GgufException(GgufError.TrailingBytes, path, "data", (dataLength - end).ToString(CultureInfo.InvariantCulture),
                $"bytes after the last tensor ({previous.Name}) exceed its alignment padding");
    }

    private static long AlignUp(long value, uint alignment) => checked((value + alignment - 1) / alignment * alignment);

    private static GgufValue ReadValue(ref Cursor r, GgufValueType type, string field, int depth)
    {
        switch (type)
        {
            case GgufValueType.String: return new(type, r.String(field, GgufConstants.MaxStringBytes));
            case GgufValueType.Array: return new(type, ReadArray(ref r, field, depth + 1));
            default: return new(type, ReadScalar(ref r, type, field));
        }
    }

    private static object ReadScalar(ref Cursor r, GgufValueType type, string field) => type switch
    {
        GgufValueType.UInt8 => r.Bytes(1, field)[0],
        GgufValueType.Int8 => (sbyte)r.Bytes(1, field)[0],
        GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(r.Bytes(2, field)),
        GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(r.Bytes(2, field)),
        GgufValueType.UInt32 => r.U32(field),
        GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(r.Bytes(4, field)),
        GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(r.Bytes(4, field)),
        GgufValueType.Bool => ReadBool(ref r, field),
        GgufValueType.UInt64 => r.U64(field),
        GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(r.Bytes(8, field)),
        GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(r.Bytes(8, field)),
        _ => throw new InvalidOperationException("caller passes scalar types only"),
    };

    private static bool ReadBool(ref Cursor r, string field)
    {
        byte b = r.Bytes(1, field)[0];
        if (b > 1) throw new GgufException(GgufError.WrongKeyType, r.File, field, b.ToString(CultureInfo.InvariantCulture), "a bool must be 0 or 1");
        return b == 1;
    }

    private static int ScalarSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        GgufValueType.String => 8,            // at least its length
        _ => 4 + 8,                           // a nested array: at least its type and count
    };

    private static GgufArray ReadArray(ref Cursor r, string field, int depth)
    {
        var elementType = r.ValueType(field);
        if (elementType == GgufValueType.Array && depth + 1 > GgufConstants.MaxArrayDepth)
            throw new GgufException(GgufError.NestedArrayTooDeep, r.File, field, $"depth {depth + 1}", $"arrays nest at most {GgufConstants.MaxArrayDepth} deep");
        ulong count = r.U64(field + ".length");
        int size = ScalarSize(elementType);
        if (count > GgufConstants.MaxArrayElements || (long)count > r.Left / size)
            throw new GgufException(GgufError.ArrayTooLong, r.File, field + ".length", count.ToString(CultureInfo.InvariantCulture),
                $"{elementType} x {count} needs at least {(count > (ulong)long.MaxValue / (ulong)size ? "more than 2^63" : (count * (ulong)size).ToString(CultureInfo.InvariantCulture))} bytes; cap is {GgufConstants.MaxArrayElements} elements and {r.Left} bytes are left");
        int n = (int)count;
        switch (elementType)
        {
            case GgufValueType.String:
                var strings = new string[n];
                for (int i = 0; i < n; i++) strings[i] = r.String($"{field}[{i}]", GgufConstants.MaxStringBytes);
                return new(elementType, strings);
            case GgufValueType.Array:
                var arrays = new GgufArray[n];
                for (int i = 0; i < n; i++) arrays[i] = ReadArray(ref r, $"{field}[{i}]", depth + 1);
                return new(elementType, arrays);
            case GgufValueType.Float32:
                var floats = new float[n];
                var fb = r.Bytes(checked(n * 4), field);
                for (int i = 0; i < n; i++) floats[i] = BinaryPrimitives.ReadSingleLittleEndian(fb[(i * 4)..]);
                return new(elementType, floats);
            case GgufValueType.Int32:
                var ints = new int[n];
                var ib = r.Bytes(checked(n * 4), field);
                for (int i = 0; i < n; i++) ints[i] = BinaryPrimitives.ReadInt32LittleEndian(ib[(i * 4)..]);
                return new(elementType, ints);
            default:
                var items = System.Array.CreateInstance(ClrType(elementType), n);
                for (int i = 0; i < n; i++) items.SetValue(ReadScalar(ref r, elementType, field), i);
                return new(elementType, items);
        }
    }

    private static Type ClrType(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new InvalidOperationException("handled by the caller"),
    };

    /// <summary>Bounds-checked little-endian reads over the header bytes.</summary>
    private ref struct Cursor(ReadOnlySpan<byte> bytes, string file, bool capped)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _pos;

        public readonly string File => file;
        public readonly long Left => _bytes.Length - _pos;
        public readonly long Position => _pos;

        public void Skip(int n) => Bytes(n, "header");

        public ReadOnlySpan<byte> Bytes(int n, string field)
        {
            if (n > Left)
            {
                throw new GgufException(GgufError.Truncated, file, field, $"{n} bytes at offset {_pos}",
                    capped ? $"header is larger than the {GgufConstants.MaxHeaderBytes}-byte cap" : $"file ends after {_bytes.Length} bytes");
            }
            var s = _bytes.Slice(_pos, n);
            _pos += n;
            return s;
        }

        public uint U32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4, field));
        public ulong U64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Bytes(8, field));

        public GgufValueType ValueType(string field)
        {
            uint t = U32(field + ".type");
            if (t > (uint)GgufValueType.Float64)
                throw new GgufException(GgufError.UnknownValueType, file, field + ".type", t.ToString(CultureInfo.InvariantCulture), "not a GGUF metadata value type (0..12)");
            return (GgufValueType)t;
        }

        public string String(string field, long cap)
        {
            ulong len = U64(field + ".length");
            if (len > (ulong)cap || (long)len > Left)
                throw new GgufException(GgufError.StringTooLong, file, field + ".length", len.ToString(CultureInfo.InvariantCulture),
                    $"cap is {cap} bytes and {Left} bytes are left");
            var bytes = Bytes((int)len, field);
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw new GgufException(GgufError.InvalidString, file, field, "0x" + Convert.ToHexString(bytes[..Math.Min(bytes.Length, 16)]), "not valid UTF-8");
            }
        }
    }
}
