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
        // One buffer sized to the largest tensor: peak memory is one tensor, whatever the model size,
        // plus the shared tensors between their first and last use (below).
        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)plan.Tensors.Max(t => t.ByteSize)));
        // A shared tensor is written once per executed step (llama.cpp cannot alias tensors). Its
        // source may be a computation (quantization), so it is encoded once and its bytes reused
        // until its last use, not recomputed for every step.
        var lastUse = new Dictionary<(string, int, uint), int>();
        for (int i = 0; i < plan.Tensors.Count; i++) lastUse[EncodingKey(plan.Tensors[i])] = i;
        var shared = new Dictionary<(string, int, uint), byte[]>();
        for (int i = 0; i < plan.Tensors.Count; i++)
        {
            var t = plan.Tensors[i];
            var key = EncodingKey(t);
            ReadOnlySpan<byte> bytes;
            if (shared.TryGetValue(key, out var cached))
            {
                bytes = cached;
            }
            else
            {
                var span = buffer.AsSpan(0, checked((int)t.ByteSize));
                Encode(t, span);
                if (lastUse[key] != i) shared[key] = span.ToArray();
                bytes = span;
            }
            encoder.Raw(bytes);
            encoder.Pad(GgufConstants.DefaultAlignment);
            if (lastUse[key] == i) shared.Remove(key);
            done += t.ByteSize;
            options.Progress?.Report(new ConversionProgress("write", done, total, t.GgufName));
        }
        output.Flush();
    }

    /// <summary>What decides a tensor's encoded bytes: its IR tensor, the RoPE permutation and the output type.</summary>
    private static (string, int, uint) EncodingKey(PlannedTensor t) => (t.Source.Name, t.PermuteHeads, t.OutType.Id);

    /// <summary>Converts (float types), permutes (Q and K) and copies one tensor's bytes into <paramref name="dst"/>.</summary>
    private static void Encode(PlannedTensor t, Span<byte> dst)
    {
        var src = t.Source.Source.Read();
        int rows = t.Source.Rows;
        int cols = t.Source.Columns;
        int srcRowBytes = src.Length / rows;
        int dstRowBytes = dst.Length / rows;
        bool convert = t.Source.Type != t.OutType.IrType;
        var scratch = convert ? new float[cols] : null;
        int hd = t.PermuteHeads > 0 ? rows / t.PermuteHeads : 0;
        for (int r = 0; r < rows; r++)
        {
            int from = hd > 0 ? RopePermutation.HfRowOf(r, hd) : r;
            var srcRow = src.Slice(from * srcRowBytes, srcRowBytes);
            var dstRow = dst.Slice(r * dstRowBytes, dstRowBytes);
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
}
