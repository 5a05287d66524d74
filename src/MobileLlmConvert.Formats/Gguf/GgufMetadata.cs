using System.Globalization;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>An array value: element type and a typed .NET array (string[], float[], int[], GgufArray[] ...).</summary>
public sealed record GgufArray(GgufValueType ElementType, Array Items)
{
    /// <summary>Number of elements.</summary>
    public int Count => Items.Length;
}

/// <summary>
/// One metadata value. Scalars are the matching .NET type (byte, sbyte, ushort, short, uint, int,
/// float, bool, string, ulong, long, double); arrays are <see cref="GgufArray"/>.
/// </summary>
public sealed record GgufValue(GgufValueType Type, object Value)
{
    /// <summary>A uint32 value.</summary>
    public static GgufValue UInt32(uint v) => new(GgufValueType.UInt32, v);
    /// <summary>An int32 value.</summary>
    public static GgufValue Int32(int v) => new(GgufValueType.Int32, v);
    /// <summary>A float32 value.</summary>
    public static GgufValue Float32(float v) => new(GgufValueType.Float32, v);
    /// <summary>A float64 value.</summary>
    public static GgufValue Float64(double v) => new(GgufValueType.Float64, v);
    /// <summary>A bool value.</summary>
    public static GgufValue Bool(bool v) => new(GgufValueType.Bool, v);
    /// <summary>A UTF-8 string value.</summary>
    public static GgufValue String(string v) => new(GgufValueType.String, v);
    /// <summary>An array of <paramref name="elementType"/> values.</summary>
    public static GgufValue Array(GgufValueType elementType, Array items) => new(GgufValueType.Array, new GgufArray(elementType, items));

    /// <summary>True for every integer value type, signed or not, of any width.</summary>
    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16 or GgufValueType.Int16
        or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>The value of any integer type as a long, or null (not an integer, or a uint64 above long.MaxValue).</summary>
    public long? AsInteger() => Value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => null,
    };

    /// <summary>A short human form for messages and `inspect` (arrays show their type and length).</summary>
    public override string ToString() => Value switch
    {
        GgufArray a => $"[{a.ElementType} x {a.Count}]",
        string s => s,
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        _ => Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>
/// A tensor info as stored: <see cref="Dims"/> innermost-first (GGUF order), <see cref="Offset"/>
/// relative to the data section. <see cref="Shape"/> is the outermost-first (Hugging Face) order.
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Dims, GgmlTypeInfo Type, long Offset, long ByteSize)
{
    /// <summary>Dimensions outermost first (GGUF stores them innermost first).</summary>
    public long[] Shape
    {
        get
        {
            var s = (long[])Dims.Clone();
            System.Array.Reverse(s);
            return s;
        }
    }

    /// <summary>Number of values.</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dims) n *= d; // validated by the parser: no overflow
            return n;
        }
    }
}

/// <summary>Everything in a GGUF header: the key/value pairs in file order and the tensor infos.</summary>
public sealed class GgufMetadata
{
    private readonly Dictionary<string, GgufValue> _byKey;
    private readonly Dictionary<string, GgufTensorInfo> _byTensor;

    /// <summary>The file the header was read from.</summary>
    public string Path { get; }
    /// <summary>GGUF version (2 or 3).</summary>
    public uint Version { get; }
    /// <summary>general.alignment, or 32 when absent.</summary>
    public uint Alignment { get; }
    /// <summary>Every key/value pair, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> KeyValues { get; }
    /// <summary>Every tensor info, in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    /// <summary>Absolute file offset of the data section (aligned).</summary>
    public long DataOffset { get; }
    /// <summary>Length of the file in bytes.</summary>
    public long FileLength { get; }

    internal GgufMetadata(string path, uint version, uint alignment, List<KeyValuePair<string, GgufValue>> kvs,
        List<GgufTensorInfo> tensors, long dataOffset, long fileLength)
    {
        Path = path;
        Version = version;
        Alignment = alignment;
        KeyValues = kvs;
        Tensors = tensors;
        DataOffset = dataOffset;
        FileLength = fileLength;
        _byKey = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        foreach (var kv in kvs) _byKey.Add(kv.Key, kv.Value);
        _byTensor = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        foreach (var t in tensors) _byTensor.Add(t.Name, t);
    }

    /// <summary>Looks up a metadata value by key.</summary>
    public bool TryGet(string key, out GgufValue value) => _byKey.TryGetValue(key, out value!);
    /// <summary>The metadata value under <paramref name="key"/>, or null.</summary>
    public GgufValue? Get(string key) => _byKey.GetValueOrDefault(key);
    /// <summary>Looks up a tensor info by name.</summary>
    public bool TryGetTensor(string name, out GgufTensorInfo info) => _byTensor.TryGetValue(name, out info!);
}
