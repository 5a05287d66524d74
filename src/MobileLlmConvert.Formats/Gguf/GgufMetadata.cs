using System.Globalization;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>An array value: element type and a typed .NET array (string[], float[], int[], GgufArray[] ...).</summary>
public sealed record GgufArray(GgufValueType ElementType, Array Items)
{
    public int Count => Items.Length;
}

/// <summary>
/// One metadata value. Scalars are the matching .NET type (byte, sbyte, ushort, short, uint, int,
/// float, bool, string, ulong, long, double); arrays are <see cref="GgufArray"/>.
/// </summary>
public sealed record GgufValue(GgufValueType Type, object Value)
{
    public static GgufValue UInt32(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue Int32(int v) => new(GgufValueType.Int32, v);
    public static GgufValue Float32(float v) => new(GgufValueType.Float32, v);
    public static GgufValue Bool(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue String(string v) => new(GgufValueType.String, v);
    public static GgufValue Array(GgufValueType elementType, Array items) => new(GgufValueType.Array, new GgufArray(elementType, items));

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
    public long[] Shape
    {
        get
        {
            var s = (long[])Dims.Clone();
            System.Array.Reverse(s);
            return s;
        }
    }

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

    public string Path { get; }
    public uint Version { get; }
    public uint Alignment { get; }
    public IReadOnlyList<KeyValuePair<string, GgufValue>> KeyValues { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    /// <summary>Absolute file offset of the data section (aligned).</summary>
    public long DataOffset { get; }
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

    public bool TryGet(string key, out GgufValue value) => _byKey.TryGetValue(key, out value!);
    public GgufValue? Get(string key) => _byKey.GetValueOrDefault(key);
    public bool TryGetTensor(string name, out GgufTensorInfo info) => _byTensor.TryGetValue(name, out info!);
}
