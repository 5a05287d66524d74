using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// Where things sit in one activation row quantized for the fast path (<see cref="QuantOps.QuantizeActivations"/>).
/// The int8 quants come first and contiguous, in the same order as the row's values, so a SIMD kernel
/// reads weights and activations with the same stride; then one f32 scale per block; then one int32
/// sum of the block's quants per block (the asymmetric kinds need Σa for the m term, and the int4
/// symmetric kernel uses it to take the −8 offset out of the inner loop). Total g + 8 bytes per block,
/// which is <see cref="QuantOps.ActivationBytes"/>.
/// </summary>
public readonly record struct ActivationLayout(int GroupSize, int Blocks)
{
    public int Values => GroupSize * Blocks;
    public int ScalesOffset => Values;
    public int SumsOffset => Values + 4 * Blocks;
    public int TotalBytes => Values + 8 * Blocks;

    public int ScaleOffset(int block) => ScalesOffset + 4 * block;
    public int SumOffset(int block) => SumsOffset + 4 * block;

    /// <summary>The layout of an activation buffer of <paramref name="bytes"/> bytes, which must be whole blocks.</summary>
    public static ActivationLayout FromBytes(ElementTypeInfo info, int bytes)
    {
        int per = info.BlockValues + 8;
        if (bytes % per != 0)
            throw new ArgumentException($"{bytes} activation bytes are not whole {info.Name} activation blocks of {per} bytes");
        return new ActivationLayout(info.BlockValues, bytes / per);
    }
}

/// <summary>Argument checks shared by the naive and fast kernels: spans are checked once per call, never per block.</summary>
internal static class QuantChecks
{
    public static ElementTypeInfo Require(ElementType type)
    {
        var info = type.Info();
        if (!info.IsQuantized) throw new ArgumentException($"{info.Name} is not a quantized type");
        return info;
    }

    /// <summary>Blocks in <paramref name="values"/> values; throws when they are not whole blocks.</summary>
    public static int Blocks(ElementTypeInfo info, int values)
    {
        if (values % info.BlockValues != 0)
            throw new ArgumentException($"{values} values are not whole {info.Name} blocks of {info.BlockValues}");
        return values / info.BlockValues;
    }

    public static void Bytes(ElementTypeInfo info, int bytes, int blocks, string what)
    {
        long need = (long)blocks * info.BlockBytes;
        if (bytes < need) throw new ArgumentException($"{what}: {blocks} {info.Name} blocks need {need} bytes, span has {bytes}");
    }

    public static void Activations(ActivationLayout layout, int bytes)
    {
        if (bytes < layout.TotalBytes) throw new ArgumentException($"activation buffer has {bytes} bytes, {layout.Blocks} blocks need {layout.TotalBytes}");
    }

    public static float ReadHalf(ReadOnlySpan<byte> b, int offset) => (float)System.Buffers.Binary.BinaryPrimitives.ReadHalfLittleEndian(b[offset..]);
}
