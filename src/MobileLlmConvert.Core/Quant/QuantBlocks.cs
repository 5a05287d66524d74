using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

// One block struct per quantized row of the element-type table. The group-32 members are ggml's
// block_q8_0, block_q4_0 and block_q4_1 (ggml/src/ggml-common.h): f16 d (then f16 m for the asymmetric
// kind) followed by the quants. 4-bit blocks hold element j in the low nibble of byte j and element
// j + g/2 in its high nibble. The arithmetic of these three families, shared by their group sizes, is
// in LegacyBlocks.cs; the structs below only bind it to their layouts.

[InlineArray(4)] public struct QuantBytes4 { private byte _e0; }
[InlineArray(12)] public struct QuantBytes12 { private byte _e0; }
[InlineArray(16)] public struct QuantBytes16 { private byte _e0; }
[InlineArray(32)] public struct QuantBytes32 { private byte _e0; }
[InlineArray(64)] public struct QuantBytes64 { private byte _e0; }
[InlineArray(128)] public struct QuantBytes128 { private byte _e0; }

/// <summary>int8 symmetric, 32 values (ggml block_q8_0): x = qs[j] * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ8_0 : IQuantBlock<BlockQ8_0>
{
    public Half D;
    public QuantBytes32 Qs;
    public static int BlockValues => 32;
    public static bool HasSearch => false;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ8_0 b, QuantRounding r) => Int8Sym.Quantize(x, BlockBytes.Of(ref b));
    public static void Dequantize(in BlockQ8_0 b, Span<float> y) => Int8Sym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static bool TryQuantizeRtnRow(ReadOnlySpan<float> src, Span<byte> dst) => Int8Sym.TryQuantizeRow(src, dst, BlockValues);
    public static float Dot(in BlockQ8_0 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int8Sym.Dot(BlockBytes.OfReadOnly(in b), a, dx);
}

/// <summary>int8 symmetric, 64 values: x = qs[j] * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ8_G64 : IQuantBlock<BlockQ8_G64>
{
    public Half D;
    public QuantBytes64 Qs;
    public static int BlockValues => 64;
    public static bool HasSearch => false;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ8_G64 b, QuantRounding r) => Int8Sym.Quantize(x, BlockBytes.Of(ref b));
    public static void Dequantize(in BlockQ8_G64 b, Span<float> y) => Int8Sym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static bool TryQuantizeRtnRow(ReadOnlySpan<float> src, Span<byte> dst) => Int8Sym.TryQuantizeRow(src, dst, BlockValues);
    public static float Dot(in BlockQ8_G64 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int8Sym.Dot(BlockBytes.OfReadOnly(in b), a, dx);
}

/// <summary>int8 symmetric, 128 values: x = qs[j] * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ8_G128 : IQuantBlock<BlockQ8_G128>
{
    public Half D;
    public QuantBytes128 Qs;
    public static int BlockValues => 128;
    public static bool HasSearch => false;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ8_G128 b, QuantRounding r) => Int8Sym.Quantize(x, BlockBytes.Of(ref b));
    public static void Dequantize(in BlockQ8_G128 b, Span<float> y) => Int8Sym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static bool TryQuantizeRtnRow(ReadOnlySpan<float> src, Span<byte> dst) => Int8Sym.TryQuantizeRow(src, dst, BlockValues);
    public static float Dot(in BlockQ8_G128 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int8Sym.Dot(BlockBytes.OfReadOnly(in b), a, dx);
}

/// <summary>int4 symmetric, 32 values (ggml block_q4_0): x = (q - 8) * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_0 : IQuantBlock<BlockQ4_0>
{
    public Half D;
    public QuantBytes16 Qs;
    public static int BlockValues => 32;
    public static bool HasSearch => true;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ4_0 b, QuantRounding r) => Int4Sym.Quantize(x, BlockBytes.Of(ref b), r);
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ4_0 b, ReadOnlySpan<float> importance, float rowSigma2) => Int4Sym.QuantizeWeighted(x, BlockBytes.Of(ref b), importance, rowSigma2);
    public static void Dequantize(in BlockQ4_0 b, Span<float> y) => Int4Sym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static int SymmetricNmax => 8;
    public static void PackSymmetric(float d, ReadOnlySpan<int> q, ref BlockQ4_0 b) => Int4Sym.Pack(d, q, BlockBytes.Of(ref b));
    public static float Dot(in BlockQ4_0 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int4Sym.Dot(BlockBytes.OfReadOnly(in b), a, dx);
}

/// <summary>int4 symmetric, 64 values: x = (q - 8) * d, nibble split at 32.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_G64 : IQuantBlock<BlockQ4_G64>
{
    public Half D;
    public QuantBytes32 Qs;
    public static int BlockValues => 64;
    public static bool HasSearch => true;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ4_G64 b, QuantRounding r) => Int4Sym.Quantize(x, BlockBytes.Of(ref b), r);
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ4_G64 b, ReadOnlySpan<float> importance, float rowSigma2) => Int4Sym.QuantizeWeighted(x, BlockBytes.Of(ref b), importance, rowSigma2);
    public static void Dequantize(in BlockQ4_G64 b, Span<float> y) => Int4Sym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static int SymmetricNmax => 8;
    public static void PackSymmetric(float d, ReadOnlySpan<int> q, ref BlockQ4_G64 b) => Int4Sym.Pack(d, q, BlockBytes.Of(ref b));
    public static float Dot(in BlockQ4_G64 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int4Sym.Dot(BlockBytes.OfReadOnly(in b), a, dx);
}

/// <summary>int4 symmetric, 128 values: x = (q - 8) * d, nibble split at 64.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_G128 : IQuantBlock<BlockQ4_G128>
{
    public Half D;
    public QuantBytes64 Qs;
    public static int BlockValues => 128;
    public static bool HasSearch => true;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ4_G128 b, QuantRounding r) => Int4Sym.Quantize(x, BlockBytes.Of(ref b), r);
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ4_G128 b, ReadOnlySpan<float> importance, float rowSigma2) => Int4Sym.QuantizeWeighted(x, BlockBytes.Of(ref b), importance, rowSigma2);
    public static void Dequantize(in BlockQ4_G128 b, Span<float> y) => Int4Sym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static int SymmetricNmax => 8;
    public static void PackSymmetric(float d, ReadOnlySpan<int> q, ref BlockQ4_G128 b) => Int4Sym.Pack(d, q, BlockBytes.Of(ref b));
    public static float Dot(in BlockQ4_G128 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int4Sym.Dot(BlockBytes.OfReadOnly(in b), a, dx);
}

/// <summary>int4 asymmetric, 32 values (ggml block_q4_1): x = q * d + m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_1 : IQuantBlock<BlockQ4_1>
{
    public Half D;
    public Half M;
    public QuantBytes16 Qs;
    public static int BlockValues => 32;
    public static bool HasSearch => true;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ4_1 b, QuantRounding r) => Int4Asym.Quantize(x, BlockBytes.Of(ref b), r);
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ4_1 b, ReadOnlySpan<float> importance, float rowSigma2) => Int4Asym.QuantizeWeighted(x, BlockBytes.Of(ref b), importance, rowSigma2);
    public static void Dequantize(in BlockQ4_1 b, Span<float> y) => Int4Asym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static float Dot(in BlockQ4_1 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int4Asym.Dot(BlockBytes.OfReadOnly(in b), a, dx, sumA);
}

/// <summary>int4 asymmetric, 64 values: x = q * d + m, nibble split at 32.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_1_G64 : IQuantBlock<BlockQ4_1_G64>
{
    public Half D;
    public Half M;
    public QuantBytes32 Qs;
    public static int BlockValues => 64;
    public static bool HasSearch => true;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ4_1_G64 b, QuantRounding r) => Int4Asym.Quantize(x, BlockBytes.Of(ref b), r);
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ4_1_G64 b, ReadOnlySpan<float> importance, float rowSigma2) => Int4Asym.QuantizeWeighted(x, BlockBytes.Of(ref b), importance, rowSigma2);
    public static void Dequantize(in BlockQ4_1_G64 b, Span<float> y) => Int4Asym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static float Dot(in BlockQ4_1_G64 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int4Asym.Dot(BlockBytes.OfReadOnly(in b), a, dx, sumA);
}

/// <summary>int4 asymmetric, 128 values: x = q * d + m, nibble split at 64.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_1_G128 : IQuantBlock<BlockQ4_1_G128>
{
    public Half D;
    public Half M;
    public QuantBytes64 Qs;
    public static int BlockValues => 128;
    public static bool HasSearch => true;
    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ4_1_G128 b, QuantRounding r) => Int4Asym.Quantize(x, BlockBytes.Of(ref b), r);
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ4_1_G128 b, ReadOnlySpan<float> importance, float rowSigma2) => Int4Asym.QuantizeWeighted(x, BlockBytes.Of(ref b), importance, rowSigma2);
    public static void Dequantize(in BlockQ4_1_G128 b, Span<float> y) => Int4Asym.Dequantize(BlockBytes.OfReadOnly(in b), y);
    public static float Dot(in BlockQ4_1_G128 b, ReadOnlySpan<sbyte> a, float dx, int sumA) => Int4Asym.Dot(BlockBytes.OfReadOnly(in b), a, dx, sumA);
}

/// <summary>A block struct's bytes, for arithmetic shared by several group sizes of one layout family.</summary>
internal static class BlockBytes
{
    public static Span<byte> Of<T>(ref T block) where T : unmanaged => MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref block, 1));
    public static ReadOnlySpan<byte> OfReadOnly<T>(in T block) where T : unmanaged => MemoryMarshal.AsBytes(MemoryMarshal.CreateReadOnlySpan(in block, 1));
}

/// <summary>Size checks of the quantized rows of <see cref="ElementTypes"/>.</summary>
public static class QuantBlocks
{
    /// <summary>The struct size of a quantized type's block, or throws for a float type.</summary>
    public static int StructSize(ElementType type)
    {
        var info = type.Info();
        if (info.Kernel is null) throw new ArgumentException($"{info.Name} has no block struct");
        return info.BlockBytes;
    }

    /// <summary>
    /// Throws when a quantized row has no block struct or a block size that is not a whole number of
    /// 32-value chunks (every SIMD kernel works in those). Runs once from <see cref="QuantOps"/>'s static
    /// constructor, so no kernel ever runs against a table it does not expect.
    /// </summary>
    public static void AssertSizes()
    {
        foreach (var row in ElementTypes.All)
        {
            if (row.IsQuantized != (row.Kernel is not null))
                throw new InvalidOperationException($"{row.Name}: a quantized type needs a block struct and a float type must not have one");
            if (row.IsQuantized && (row.BlockValues % 32 != 0 || row.BlockBytes <= 0))
                throw new InvalidOperationException($"{row.Name}: {row.BlockValues} values in {row.BlockBytes} bytes is not a supported block");
        }
    }
}
