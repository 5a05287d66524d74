using System.Buffers.Binary;
using System.Text;

namespace MobileLlmConvert.Tests.Torch;

/// <summary>One zip record as a hostile test wants it: every header field that a trick could bend.</summary>
internal sealed record ZipRecord(string Name, byte[] Data)
{
    public ushort Flags { get; init; } = 0x0808;
    public ushort Method { get; init; }
    /// <summary>A different name in the local header than in the central directory (picklescan CVE-2025-1944 style).</summary>
    public string? LocalName { get; init; }
    public ushort? LocalFlags { get; init; }
    /// <summary>Local header offset override (to make records overlap).</summary>
    public long? CentralOffset { get; init; }
    /// <summary>Only a central entry (its local header lives inside another record's data).</summary>
    public bool CentralOnly { get; init; }
}

/// <summary>
/// Writes torch.save-shaped zips and protocol-2 pickles byte by byte, so each hostile test can bend
/// exactly one thing. The shapes follow what torch 1.13 writes (see testdata/torch/make_fixtures.py).
/// </summary>
internal static class TorchBytes
{
    public static byte[] Zip(IEnumerable<ZipRecord> records, string? comment = null)
    {
        var o = new MemoryStream();
        var central = new MemoryStream();
        int count = 0;
        foreach (var r in records)
        {
            long offset = o.Position;
            if (!r.CentralOnly)
            {
                o.Write(LocalHeader(r.LocalName ?? r.Name, r.LocalFlags ?? r.Flags, r.Method, r.Data.Length));
                o.Write(r.Data);
            }
            var cname = Encoding.UTF8.GetBytes(r.Name);
            Header(central, 0x02014b50);
            U16(central, 20); U16(central, 20); U16(central, r.Flags); U16(central, r.Method); U16(central, 0); U16(central, 0);
            U32(central, 0); U32(central, (uint)r.Data.Length); U32(central, (uint)r.Data.Length);
            U16(central, (ushort)cname.Length); U16(central, 0); U16(central, 0); U16(central, 0); U16(central, 0); U32(central, 0);
            U32(central, (uint)(r.CentralOffset ?? offset));
            central.Write(cname);
            count++;
        }
        long cdOffset = o.Position;
        central.Position = 0;
        central.CopyTo(o);
        var c = Encoding.ASCII.GetBytes(comment ?? "");
        Header(o, 0x06054b50);
        U16(o, 0); U16(o, 0); U16(o, (ushort)count); U16(o, (ushort)count);
        U32(o, (uint)central.Length); U32(o, (uint)cdOffset); U16(o, (ushort)c.Length);
        o.Write(c);
        return o.ToArray();
    }

    /// <summary>A whole torch-shaped archive: data.pkl, data/&lt;key&gt; storages, version "3\n", byteorder "little".</summary>
    public static byte[] Archive(byte[] pickle, IReadOnlyDictionary<string, byte[]> storages, string root = "archive", string version = "3\n", string? byteorder = "little")
    {
        var records = new List<ZipRecord> { new($"{root}/data.pkl", pickle) };
        foreach (var (k, v) in storages) records.Add(new($"{root}/data/{k}", v));
        records.Add(new($"{root}/version", Encoding.ASCII.GetBytes(version)));
        if (byteorder is not null) records.Add(new($"{root}/byteorder", Encoding.ASCII.GetBytes(byteorder)));
        return Zip(records);
    }

    public static byte[] LocalHeader(string name, ushort flags, ushort method, int size)
    {
        var o = new MemoryStream();
        var n = Encoding.UTF8.GetBytes(name);
        Header(o, 0x04034b50);
        U16(o, 20); U16(o, flags); U16(o, method); U16(o, 0); U16(o, 0);
        U32(o, 0); U32(o, (uint)size); U32(o, (uint)size);
        U16(o, (ushort)n.Length); U16(o, 0);
        o.Write(n);
        return o.ToArray();
    }

    private static void Header(Stream s, uint sig) => U32(s, sig);
    private static void U16(Stream s, ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); s.Write(b); }
    private static void U32(Stream s, uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); s.Write(b); }
}

/// <summary>A protocol-2 pickle written opcode by opcode (Python's pickletools.py names).</summary>
internal sealed class Pickle
{
    private readonly MemoryStream _o = new();

    public Pickle Proto(byte p = 2) => Op(0x80, p);
    public Pickle Global(string module, string name) => Op((byte)'c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    public Pickle Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op((byte)'X');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, b.Length);
        _o.Write(n);
        return Raw(b);
    }
    public Pickle Int(int v)
    {
        if (v is >= 0 and < 256) return Op((byte)'K', (byte)v);
        Op((byte)'J');
        Span<byte> n = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(n, v);
        _o.Write(n);
        return this;
    }
    public Pickle Mark() => Op((byte)'(');
    public Pickle Tuple() => Op((byte)'t');
    public Pickle EmptyTuple() => Op((byte)')');
    public Pickle EmptyDict() => Op((byte)'}');
    public Pickle EmptyList() => Op((byte)']');
    public Pickle False() => Op(0x89);
    public Pickle Reduce() => Op((byte)'R');
    public Pickle PersId() => Op((byte)'Q');
    public Pickle SetItem() => Op((byte)'s');
    public Pickle SetItems() => Op((byte)'u');
    public Pickle Append() => Op((byte)'a');
    public Pickle Stop() => Op((byte)'.');
    public Pickle Op(params byte[] b) => Raw(b);
    public Pickle Raw(byte[] b)
    {
        _o.Write(b);
        return this;
    }

    public Pickle OrderedDict() => Global("collections", "OrderedDict").EmptyTuple().Reduce();

    /// <summary>_rebuild_tensor_v2(('storage', torch.TYPE, key, 'cpu', numel), offset, size, stride, False, OrderedDict()).</summary>
    public Pickle Tensor(string type, string key, int numel, int offset, int[] size, int[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global("torch", type).Str(key).Str("cpu").Int(numel).Tuple().PersId();
        Int(offset).Mark();
        foreach (var s in size) Int(s);
        Tuple().Mark();
        foreach (var s in stride) Int(s);
        return Tuple().False().OrderedDict().Tuple().Reduce();
    }

    public byte[] Bytes() => _o.ToArray();

    /// <summary>{"w": float32 [2] over storage "0" of 2 elements}: the smallest valid state dict.</summary>
    public static Pickle OneTensor(string type = "FloatStorage", int numel = 2, int[]? size = null, int offset = 0) =>
        new Pickle().Proto().OrderedDict().Mark().Str("w").Tensor(type, "0", numel, offset, size ?? [2], [1]).SetItems().Stop();
}
