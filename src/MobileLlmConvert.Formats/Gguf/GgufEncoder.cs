using System.Buffers.Binary;
using System.Text;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>Serializes GGUF header parts (little-endian, strings as uint64 length + UTF-8 bytes).</summary>
internal sealed class GgufEncoder(Stream stream)
{
    private readonly byte[] _scratch = new byte[8];

    public long Position { get; private set; }

    public void U32(uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_scratch, v);
        Raw(_scratch.AsSpan(0, 4));
    }

    public void U64(ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_scratch, v);
        Raw(_scratch.AsSpan(0, 8));
    }

    public void String(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        U64((ulong)bytes.Length);
        Raw(bytes);
    }

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        stream.Write(bytes);
        Position += bytes.Length;
    }

    public void Pad(uint alignment)
    {
        long pad = (alignment - Position % alignment) % alignment;
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (pad > 0)
        {
            int n = (int)Math.Min(pad, zeros.Length);
            Raw(zeros[..n]);
            pad -= n;
        }
    }

    public void KeyValue(string key, GgufValue value)
    {
        String(key);
        U32((uint)value.Type);
        Value(value);
    }

    private void Value(GgufValue value)
    {
        switch (value.Value)
        {
            case GgufArray a:
                U32((uint)a.ElementType);
                U64((ulong)a.Count);
                foreach (var item in a.Items) Value(new GgufValue(a.ElementType, item!));
                break;
            case string s: String(s); break;
            case byte v: Raw([v]); break;
            case sbyte v: Raw([(byte)v]); break;
            case bool v: Raw([v ? (byte)1 : (byte)0]); break;
            case ushort v: BinaryPrimitives.WriteUInt16LittleEndian(_scratch, v); Raw(_scratch.AsSpan(0, 2)); break;
            case short v: BinaryPrimitives.WriteInt16LittleEndian(_scratch, v); Raw(_scratch.AsSpan(0, 2)); break;
            case uint v: U32(v); break;
            case int v: U32((uint)v); break;
            case float v: BinaryPrimitives.WriteSingleLittleEndian(_scratch, v); Raw(_scratch.AsSpan(0, 4)); break;
            case ulong v: U64(v); break;
            case long v: U64((ulong)v); break;
            case double v: BinaryPrimitives.WriteDoubleLittleEndian(_scratch, v); Raw(_scratch.AsSpan(0, 8)); break;
            default: throw new ArgumentException($"no GGUF encoding for {value.Value.GetType()}");
        }
    }
}
