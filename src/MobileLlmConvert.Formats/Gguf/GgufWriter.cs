using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>How <see cref="GgufWriter"/> writes a model.</summary>
public sealed record GgufWriteOptions
{
    /// <summary>
    /// The float type when none is asked for, here and in the CLI's `--dtype`: F16 halves the file
    /// and is what llama.cpp's own converter writes by default (convert_hf_to_gguf.py `--outtype f16`).
    /// </summary>
    public static ElementType DefaultFloatType => ElementType.F16;

    /// <summary>Type of float matrices (F32 or F16). BF16/F16/F32 sources are converted; quantized tensors are written as they are.</summary>
    public ElementType FloatType { get; init; } = DefaultFloatType;
    /// <summary>general.name; defaults to the source's file or folder name.</summary>
    public string? ModelName { get; init; }
    /// <summary>Reports ("write", bytes written, total bytes, tensor name) after each tensor.</summary>
    public IProgress<ConversionProgress>? Progress { get; init; }
    /// <summary>An accuracy budget's result, written as mobilellmconvert.quality.* keys (each tensor's type is in its tensor info already); null = none.</summary>
    public QualityRecord? Quality { get; init; }
}

/// <summary>
/// Writes an IR as a GGUF of llama.cpp's llama architecture (formats/gguf.md). Tensors are streamed
/// one at a time from their lazy sources; the header is built first because the tensor offsets are
/// fixed by the shapes alone. Shared IR tensors are written once per executed step (llama.cpp cannot
/// alias tensor data) and our mobilellmconvert.* keys record where each came from.
/// </summary>
public static class GgufWriter
{
    /// <summary>Writes to <paramref name="path"/> atomically (a failed write leaves nothing behind).</summary>
    public static void Write(ModelIr ir, string path, GgufWriteOptions options) =>
        AtomicFile.Write(path, stream => Write(ir, stream, options));

    /// <summary>Writes the GGUF file to <paramref name="output"/> (the caller owns atomicity).</summary>
    public static void Write(ModelIr ir, Stream output, GgufWriteOptions options)
    {
        var plan = GgufWritePlan.Create(ir, options);
        var encoder = new GgufEncoder(output);
        encoder.U32(GgufConstants.Magic);
        encoder.U32(GgufConstants.WriteVersion);
        encoder.U64((ulong)plan.Tensors.Count);
        encoder.U64((ulong)plan.Metadata.Count);
        foreach (var (key, value) in plan.Metadata) encoder.KeyValue(key, value);
        foreach (var t in plan.Tensors)
        {
            encoder.String(t.GgufName);
            encoder.U32((uint)t.Dims.Length);
            foreach (var d in t.Dims) encoder.U64((ulong)d);
            encoder.U32(t.OutType.Id);
            encoder.U64((ulong)t.Offset);
        }
        encoder.Pad(GgufConstants.DefaultAlignment);

        long total = plan.Tensors.Sum(t => t.ByteSize);
        long done = 0;
        // A shared tensor is written once per executed step (llama.cpp cannot alias tensors). Its
        // source may be a computation (quantization), so it is encoded once and its bytes kept until
        // its last use, not recomputed for every step: the pipeline computes first uses only.
        var lastUse = new Dictionary<(string, int, uint), int>();
        for (int i = 0; i < plan.Tensors.Count; i++) lastUse[EncodingKey(plan.Tensors[i])] = i;
        var firstUse = new HashSet<(string, int, uint)>();
        var sources = plan.Tensors.Select(t => firstUse.Add(EncodingKey(t)) ? Encoded(t) : null).ToList();
        var shared = new Dictionary<(string, int, uint), byte[]>();
        // Tensors are computed on every core, one chunk ahead of this thread's writes (TensorPipeline):
        // a float or quantized conversion streams in chunks of TensorPipeline.ChunkBytes, so peak
        // memory is two chunks (a permuted Q/K or a source that cannot read ranges: two tensors) plus
        // the shared tensors between their first and last use.
        long kept = 0;
        TensorPipeline.RunChunks(sources, (i, produced, last) =>
        {
            var t = plan.Tensors[i];
            var key = EncodingKey(t);
            if (sources[i] is null)
            {
                encoder.Raw(shared[key]);
            }
            else
            {
                if (lastUse[key] != i)
                {
                    if (!shared.TryGetValue(key, out var copy)) shared[key] = copy = new byte[t.ByteSize];
                    produced.CopyTo(copy.AsSpan(checked((int)kept)));
                    kept += produced.Length;
                }
                encoder.Raw(produced);
            }
            if (!last) return;
            kept = 0;
            encoder.Pad(GgufConstants.DefaultAlignment);
            if (lastUse[key] == i) shared.Remove(key);
            done += t.ByteSize;
            options.Progress?.Report(new ConversionProgress("write", done, total, t.GgufName));
        });
        output.Flush();
    }

    /// <summary>The bytes GGUF stores for <paramref name="t"/>, computed when the pipeline asks.</summary>
    private static TensorSource Encoded(PlannedTensor t)
    {
        // Stored as is: the source's own bytes (a computed source fills them on every core).
        if (t.Source.Type == t.OutType.IrType && t.PermuteHeads == 0) return t.Source.Source;
        // Unpermuted rows over a source that reads ranges are encoded any run at a time, so the
        // pipeline streams them in bounded chunks; permuted ones (Q and K, a few MB) are encoded whole.
        int rows = t.Source.Rows;
        if (t.PermuteHeads == 0 && t.Source.Source.CanCopyRanges && rows > 0 && t.ByteSize % rows == 0 && t.ByteSize > 0)
        {
            int dstRowBytes = checked((int)(t.ByteSize / rows));
            return new ComputedSource(t.ByteSize, dstRowBytes, (offset, dst) => Encode(t, offset / dstRowBytes, dst), t.Source.Source);
        }
        return new ComputedSource(t.ByteSize, dst => Encode(t, 0, dst), t.Source.Source);
    }

    /// <summary>What decides a tensor's encoded bytes: its IR tensor, the RoPE permutation and the output type.</summary>
    private static (string, int, uint) EncodingKey(PlannedTensor t) => (t.Source.Name, t.PermuteHeads, t.OutType.Id);

    /// <summary>
    /// Converts (float types), permutes (Q and K) and copies one tensor's rows from
    /// <paramref name="firstRow"/> on into <paramref name="dst"/> (as many as it holds; all of them when permuted).
    /// </summary>
    private static unsafe void Encode(PlannedTensor t, long firstRow, Span<byte> dst)
    {
        var source = t.Source.Source;
        int allRows = t.Source.Rows;
        int cols = t.Source.Columns;
        int srcRowBytes = checked((int)(source.Length / allRows));
        int dstRowBytes = checked((int)(t.ByteSize / allRows));
        int rows = dstRowBytes == 0 ? allRows : dst.Length / dstRowBytes;
        bool convert = t.Source.Type != t.OutType.IrType;
        int hd = t.PermuteHeads > 0 ? allRows / t.PermuteHeads : 0;
        // Permuted rows (Q and K, a few MB) are scattered over the source, and a computed source
        // cannot read ranges: those are read whole; the rest block by block through small buffers.
        byte[]? whole = hd > 0 || !source.CanCopyRanges ? source.ToArray() : null;
        fixed (byte* dstPointer = dst)
        {
            nint output = (nint)dstPointer;
            RowParallel.For(rows, srcRowBytes, (block, count) =>
            {
                var scratch = convert ? new float[cols] : null;
                byte[]? rented = null;
                try
                {
                    if (whole is null)
                    {
                        rented = System.Buffers.ArrayPool<byte>.Shared.Rent(checked(count * srcRowBytes));
                        source.CopyRange((firstRow + block) * srcRowBytes, rented.AsSpan(0, count * srcRowBytes));
                    }
                    for (int k = 0; k < count; k++)
                    {
                        int r = checked((int)block + k);
                        int at = checked((int)firstRow + r);
                        int from = hd > 0 ? RopePermutation.HfRowOf(at, hd) : at;
                        var srcRow = whole is not null ? whole.AsSpan(from * srcRowBytes, srcRowBytes) : rented.AsSpan(k * srcRowBytes, srcRowBytes);
                        var dstRow = new Span<byte>((byte*)output + (long)r * dstRowBytes, dstRowBytes);
                        if (scratch is null)
                        {
                            srcRow.CopyTo(dstRow);
                        }
                        else
                        {
                            FloatConvert.ToSingle(srcRow, t.Source.Type, scratch);
                            FloatConvert.FromSingle(scratch, t.OutType.IrType!.Value, dstRow);
                        }
                    }
                }
                finally
                {
                    if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
                }
            });
        }
    }
}
