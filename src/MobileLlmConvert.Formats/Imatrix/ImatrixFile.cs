using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Formats.Gguf;

namespace MobileLlmConvert.Formats.Imatrix;

/// <summary>
/// Reads llama.cpp importance-matrix files (tools/imatrix/imatrix.cpp writes them, common/imatrix-loader.cpp
/// and tools/quantize/quantize.cpp read them) into an <see cref="ImportanceMap"/> keyed by the IR keys
/// of a model. Two layouts:
/// <list type="bullet">
/// <item>GGUF (general.type = "imatrix"): per weight W an F32 tensor <c>W.in_sum2</c> [columns, experts]
/// of Σx² and an F32 tensor <c>W.counts</c> [1, experts] of rows; importance = in_sum2 / counts.</item>
/// <item>legacy .dat, little-endian: int32 n_entries; per entry int32 name length, the name, int32 ncall,
/// int32 nval, nval f32 holding (Σx² / rows)·ncall; then optionally int32 chunk count, int32 length and
/// the dataset file name. Importance = value / ncall.</item>
/// </list>
/// Names are GGUF tensor names (the GGUF column of <see cref="TensorNames"/>); the block index is the
/// executed step, so entries of steps that share a stored tensor add onto it (sums and rows alike).
/// Only dense models: an entry with several experts is refused.
/// </summary>
public static class ImatrixFile
{
    /// <summary>Largest file read (a 70B model's imatrix is about 100 MB).</summary>
    public const long MaxFileBytes = 512L << 20;

    /// <summary>Most entries (weights) accepted.</summary>
    public const int MaxEntries = 1 << 16;

    /// <summary>Longest entry name, in bytes (ggml's GGML_MAX_NAME is 64; legacy files had no limit).</summary>
    public const int MaxNameBytes = 1024;

    /// <summary>Most values in one entry.</summary>
    public const int MaxValues = 1 << 24;

    private static readonly byte[] GgufMagic = "GGUF"u8.ToArray();

    /// <summary>
    /// The importance of <paramref name="ir"/>'s matrices from the imatrix file at <paramref name="path"/>
    /// (either layout, told apart by the GGUF magic). Every name must map to a matrix of the model with
    /// the entry's width.
    /// </summary>
    /// <exception cref="ImatrixException">The file breaks a rule of its layout or does not fit the model.</exception>
    /// <exception cref="GgufException">A GGUF imatrix whose header is malformed.</exception>
    public static ImportanceMap Read(string path, ModelIr ir)
    {
        var bytes = ReadCapped(path);
        var acc = new ImportanceAccumulator();
        var mapper = new NameMapper(path, ir);
        if (bytes.AsSpan().StartsWith(GgufMagic)) ReadGguf(path, bytes, mapper, acc);
        else ReadLegacy(path, bytes, mapper, acc);
        return acc.Build($"imatrix {Path.GetFileName(path)}");
    }

    private static byte[] ReadCapped(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        long length = RandomAccess.GetLength(handle);
        if (length > MaxFileBytes)
            throw new ImatrixException(ImatrixError.TooLarge, path, "file size", length.ToString(CultureInfo.InvariantCulture), $"above the cap of {MaxFileBytes} bytes");
        var bytes = new byte[length];
        int read = 0;
        while (read < bytes.Length)
        {
            int n = RandomAccess.Read(handle, bytes.AsSpan(read), read);
            if (n <= 0) throw new ImatrixException(ImatrixError.Truncated, path, "file", read.ToString(CultureInfo.InvariantCulture), "the file ended while being read");
            read += n;
        }
        return bytes;
    }

    private static void ReadGguf(string path, byte[] bytes, NameMapper mapper, ImportanceAccumulator acc)
    {
        var meta = GgufFile.ReadMetadata(bytes, path);
        var type = meta.Get("general.type");
        if (type?.Value is not string t || t != "imatrix")
            throw new ImatrixException(ImatrixError.NotImatrix, path, "general.type", type?.ToString() ?? "(absent)", "a GGUF imatrix file has general.type = imatrix (a model GGUF is not an importance matrix)");
        if (meta.Tensors.Count == 0)
            throw new ImatrixException(ImatrixError.BadEntryCount, path, "tensor_count", "0", "an imatrix holds at least one entry");
        var sums = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        var counts = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        foreach (var info in meta.Tensors)
        {
            if (info.Name.EndsWith(".in_sum2", StringComparison.Ordinal)) sums[info.Name[..^".in_sum2".Length]] = info;
            else if (info.Name.EndsWith(".counts", StringComparison.Ordinal)) counts[info.Name[..^".counts".Length]] = info;
            else throw new ImatrixException(ImatrixError.UnknownTensor, path, "tensor", info.Name, "an imatrix holds only NAME.in_sum2 and NAME.counts tensors");
            if (info.Type.Id != 0)
                throw new ImatrixException(ImatrixError.BadTensor, path, $"tensor {info.Name}", info.Type.Name, "imatrix sums and counts are F32");
        }
        foreach (var (name, sumInfo) in sums.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!counts.TryGetValue(name, out var countInfo))
                throw new ImatrixException(ImatrixError.BadTensor, path, $"tensor {name}.in_sum2", name, $"has no {name}.counts");
            long experts = sumInfo.Dims.Length > 1 ? sumInfo.Dims[1] : 1;
            if (experts != 1 || countInfo.ElementCount != 1 || sumInfo.Dims.Skip(2).Any(d => d != 1))
                throw new ImatrixException(ImatrixError.BadTensor, path, $"tensor {name}.in_sum2", $"[{string.Join(", ", sumInfo.Dims)}]", "entries with several experts (MoE) are not supported: the models we convert are dense");
            var values = Floats(bytes, meta.DataOffset + sumInfo.Offset, sumInfo.ElementCount, path, $"tensor {name}.in_sum2");
            float count = Floats(bytes, meta.DataOffset + countInfo.Offset, 1, path, $"tensor {name}.counts")[0];
            // quantize.cpp rounds the stored f32 count (std::lround) and uses 1s when it is 0.
            if (!float.IsFinite(count) || count < 0 || count > long.MaxValue / 2)
                throw new ImatrixException(ImatrixError.BadCount, path, $"tensor {name}.counts", count.ToString("R", CultureInfo.InvariantCulture), "a row count is a finite non-negative number");
            Add(path, name, values, (long)Math.Round(count, MidpointRounding.AwayFromZero), mapper, acc);
        }
        foreach (var name in counts.Keys.Order(StringComparer.Ordinal))
        {
            if (!sums.ContainsKey(name))
                throw new ImatrixException(ImatrixError.BadTensor, path, $"tensor {name}.counts", name, $"has no {name}.in_sum2");
        }
    }

    private static void ReadLegacy(string path, byte[] bytes, NameMapper mapper, ImportanceAccumulator acc)
    {
        var r = new Reader(bytes, path);
        int entries = r.I32("n_entries");
        if (entries < 1 || entries > MaxEntries)
            throw new ImatrixException(ImatrixError.BadEntryCount, path, "n_entries", entries.ToString(CultureInfo.InvariantCulture), $"must be 1 to {MaxEntries}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < entries; i++)
        {
            string field = $"entry {i}";
            int len = r.I32($"{field} name length");
            if (len < 1 || len > MaxNameBytes)
                throw new ImatrixException(ImatrixError.BadName, path, $"{field} name length", len.ToString(CultureInfo.InvariantCulture), $"must be 1 to {MaxNameBytes}");
            string name = r.Utf8(len, $"{field} name");
            if (!seen.Add(name)) throw new ImatrixException(ImatrixError.DuplicateEntry, path, $"{field} name", name, "appears twice");
            int ncall = r.I32($"{name} ncall");
            if (ncall < 1)
                throw new ImatrixException(ImatrixError.BadCount, path, $"{name} ncall", ncall.ToString(CultureInfo.InvariantCulture), "the call count is at least 1");
            int nval = r.I32($"{name} nval");
            if (nval < 1 || nval > MaxValues || nval > r.Left / 4)
                throw new ImatrixException(ImatrixError.BadValueCount, path, $"{name} nval", nval.ToString(CultureInfo.InvariantCulture),
                    nval > r.Left / 4 ? $"{r.Left} bytes are left for {nval} floats" : $"must be 1 to {MaxValues}");
            var values = Floats(bytes, r.Position, nval, path, name);
            r.Skip(nval * 4, name);
            // The file holds (Σx² / rows)·ncall: added as sums over ncall rows, the mean is Σx² / rows.
            Add(path, name, values, ncall, mapper, acc);
        }
        // Optional trailer (imatrix-loader.cpp reads it only if bytes remain): chunk count, dataset name.
        if (r.Left == 0) return;
        r.I32("chunk count");
        if (r.Left == 0) return;
        int dlen = r.I32("dataset name length");
        if (dlen < 0 || dlen > r.Left)
            throw new ImatrixException(ImatrixError.BadName, path, "dataset name length", dlen.ToString(CultureInfo.InvariantCulture), $"{r.Left} bytes are left");
        r.Skip(dlen, "dataset name");
        if (r.Left != 0)
            throw new ImatrixException(ImatrixError.TrailingBytes, path, "trailer", r.Left.ToString(CultureInfo.InvariantCulture), "bytes after the dataset name");
    }

    private static void Add(string path, string name, float[] values, long rows, NameMapper mapper, ImportanceAccumulator acc)
    {
        for (int j = 0; j < values.Length; j++)
        {
            if (!float.IsFinite(values[j]) || values[j] < 0)
                throw new ImatrixException(ImatrixError.BadValue, path, $"{name}[{j}]", values[j].ToString("R", CultureInfo.InvariantCulture), "a sum of squares is finite and non-negative");
        }
        var key = mapper.Key(name, values.Length);
        acc.AddSums(key, values, rows);
    }

    private static float[] Floats(byte[] bytes, long offset, long count, string path, string field)
    {
        if (count > MaxValues || offset < 0 || offset > bytes.Length || count * 4 > bytes.Length - offset)
            throw new ImatrixException(ImatrixError.Truncated, path, field, count.ToString(CultureInfo.InvariantCulture), "values run past the end of the file");
        var values = new float[count];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(checked((int)(offset + 4L * i)), 4));
        return values;
    }

    /// <summary>GGUF tensor name to the IR key of the matrix it names, with the width checked.</summary>
    private sealed class NameMapper(string path, ModelIr ir)
    {
        public string Key(string name, int width)
        {
            if (!TensorNames.Gguf.TryParse(name, out var role, out int block))
                throw new ImatrixException(ImatrixError.UnknownTensor, path, "entry", name, "not a GGUF tensor name of the llama architecture");
            string? key = role switch
            {
                TensorRole.Q or TensorRole.K or TensorRole.V or TensorRole.O or TensorRole.Gate or TensorRole.Up or TensorRole.Down
                    => block < ir.Steps.Count ? role.Info().KeyIn(ir.Steps[block]) : null,
                // A tied head is the embedding: llama.cpp multiplies token_embd.weight as the output.
                TensorRole.Output => ir.Output,
                TensorRole.TokenEmbedding => ir.Embedding,
                _ => null,
            };
            if (key is null)
                throw new ImatrixException(ImatrixError.UnknownTensor, path, "entry", name,
                    block >= ir.Steps.Count ? $"the model has {ir.Steps.Count} layer steps" : "not a matrix the model multiplies");
            long columns = ir.TryGetTensor(key, out var tensor) ? tensor.Shape[^1] : -1;
            if (columns != width)
                throw new ImatrixException(ImatrixError.BadValueCount, path, $"{name} values", width.ToString(CultureInfo.InvariantCulture), $"{key} has {columns} input columns: the imatrix is of another model");
            return key;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> bytes, string path)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _pos;

        public readonly int Left => _bytes.Length - _pos;
        public readonly int Position => _pos;

        public void Skip(int n, string field) => Take(n, field);

        public int I32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));

        public string Utf8(int n, string field)
        {
            var span = Take(n, field);
            try
            {
                return new UTF8Encoding(false, true).GetString(span);
            }
            catch (DecoderFallbackException)
            {
                throw new ImatrixException(ImatrixError.BadName, path, field, Convert.ToHexString(span[..Math.Min(span.Length, 32)]), "not valid UTF-8");
            }
        }

        private ReadOnlySpan<byte> Take(int n, string field)
        {
            if (n < 0 || n > Left)
                throw new ImatrixException(ImatrixError.Truncated, path, field, n.ToString(CultureInfo.InvariantCulture), $"needs {n} bytes, {Left} left");
            var span = _bytes.Slice(_pos, n);
            _pos += n;
            return span;
        }
    }
}
