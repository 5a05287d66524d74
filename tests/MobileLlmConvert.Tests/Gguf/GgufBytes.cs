using System.Text;
using MobileLlmConvert.Formats.Gguf;

namespace MobileLlmConvert.Tests.Gguf;

/// <summary>Builds GGUF bytes by hand, field by field, so a test can put any bad value anywhere.</summary>
public sealed class GgufBytes
{
    private readonly MemoryStream _stream = new();
    private readonly BinaryWriter _w;

    public GgufBytes() => _w = new BinaryWriter(_stream, Encoding.UTF8, leaveOpen: true);

    public long Length => _stream.Length;

    /// <summary>Magic, version, tensor count, KV count.</summary>
    public static GgufBytes Header(ulong tensors, ulong kvs, uint version = 3) =>
        new GgufBytes().U32(GgufConstants.Magic).U32(version).U64(tensors).U64(kvs);

    public GgufBytes U32(uint v) { _w.Write(v); return this; }
    public GgufBytes U64(ulong v) { _w.Write(v); return this; }
    public GgufBytes Raw(params byte[] b) { _w.Write(b); return this; }
    public GgufBytes Str(string s) { var b = Encoding.UTF8.GetBytes(s); U64((ulong)b.Length); _w.Write(b); return this; }

    public GgufBytes KvString(string key, string value) => Str(key).U32((uint)GgufValueType.String).Str(value);
    public GgufBytes KvU32(string key, uint value) => Str(key).U32((uint)GgufValueType.UInt32).U32(value);

    public GgufBytes Tensor(string name, ulong[] dims, uint type, ulong offset)
    {
        Str(name).U32((uint)dims.Length);
        foreach (var d in dims) U64(d);
        return U32(type).U64(offset);
    }

    public GgufBytes Pad(int alignment = 32)
    {
        _w.Flush();
        while (_stream.Length % alignment != 0) _w.Write((byte)0);
        return this;
    }

    public GgufBytes Zeros(int n) { _w.Write(new byte[n]); return this; }

    public byte[] ToArray()
    {
        _w.Flush();
        return _stream.ToArray();
    }

    public string WriteTo(TempDir dir, string name = "bad.gguf")
    {
        var path = dir.File(name);
        File.WriteAllBytes(path, ToArray());
        return path;
    }
}

/// <summary>
/// Re-emits a valid GGUF with edits to its keys and tensors (offsets recomputed), to make files that
/// are well-formed GGUF but wrong as a model.
/// </summary>
public static class GgufRewrite
{
    public sealed record Entry(string Name, long[] Dims, uint Type, byte[] Data);

    public static string Rewrite(string source, string destination,
        Action<List<KeyValuePair<string, GgufValue>>>? editKeys = null, Action<List<Entry>>? editTensors = null)
    {
        var md = GgufFile.ReadMetadata(source);
        var bytes = File.ReadAllBytes(source);
        var kvs = md.KeyValues.ToList();
        var tensors = md.Tensors.Select(t => new Entry(t.Name, t.Dims, t.Type.Id,
            bytes.AsSpan(checked((int)(md.DataOffset + t.Offset)), checked((int)t.ByteSize)).ToArray())).ToList();
        editKeys?.Invoke(kvs);
        editTensors?.Invoke(tensors);
        using var stream = File.Create(destination);
        var e = new GgufEncoder(stream);
        e.U32(GgufConstants.Magic);
        e.U32(3);
        e.U64((ulong)tensors.Count);
        e.U64((ulong)kvs.Count);
        foreach (var (k, v) in kvs) e.KeyValue(k, v);
        long offset = 0;
        foreach (var t in tensors)
        {
            e.String(t.Name);
            e.U32((uint)t.Dims.Length);
            foreach (var d in t.Dims) e.U64((ulong)d);
            e.U32(t.Type);
            e.U64((ulong)offset);
            offset += (t.Data.Length + 31) / 32 * 32;
        }
        e.Pad(32);
        foreach (var t in tensors)
        {
            e.Raw(t.Data);
            e.Pad(32);
        }
        return destination;
    }

    public static void Set(this List<KeyValuePair<string, GgufValue>> kvs, string key, GgufValue value)
    {
        int i = kvs.FindIndex(kv => kv.Key == key);
        if (i < 0) kvs.Add(new(key, value));
        else kvs[i] = new(key, value);
    }

    public static void Remove(this List<KeyValuePair<string, GgufValue>> kvs, string key) => kvs.RemoveAll(kv => kv.Key == key);
}
