using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MobileLlmConvert.Core.Quant;

// ggml's 5-bit types (ggml/src/ggml-common.h block_q5_0 / block_q5_1; ggml-quants.c
// quantize_row_q5_0_ref, quantize_row_q5_1_ref, dequantize_row_q5_0/1). Value j of the 32 has its low
// four bits in the low nibble of qs[j] (j < 16) or the high nibble of qs[j − 16], and its fifth bit in
// bit j of the little-endian uint32 qh.

/// <summary>5-bit symmetric, 32 values (ggml block_q5_0): x = (q − 16)·d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ5_0 : IQuantBlock<BlockQ5_0>
{
    public Half D;
    public QuantBytes4 Qh;
    public QuantBytes16 Qs;

    public static int BlockValues => 32;
    public static bool HasSearch => true;

    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ5_0 b, QuantRounding rounding)
    {
        Span<int> q = stackalloc int[32];
        if (rounding == QuantRounding.Search)
        {
            b.D = (Half)ScaleSearch.Symmetric(x, 16, q);
            for (int j = 0; j < 32; j++) q[j] += 16;
        }
        else
        {
            // quantize_row_q5_0_ref: d = (signed value of largest magnitude) / −16, q = min(31, (int8)(x/d + 16.5)).
            float amax = 0, max = 0;
            foreach (var v in x)
            {
                if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
            }
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            b.D = (Half)d;
            for (int j = 0; j < 32; j++) q[j] = Math.Min(31, (int)(sbyte)(x[j] * id + 16.5f));
        }
        Q5Bits.Pack(q, ref b.Qh, ref b.Qs);
    }

    // llama.cpp quantize_row_q5_0_impl with quant_weights: make_qx_quants(32, 16, x, L, 1, w).
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ5_0 b, ReadOnlySpan<float> importance, float rowSigma2)
    {
        Span<float> w = stackalloc float[32];
        Span<sbyte> l = stackalloc sbyte[32];
        Span<int> q = stackalloc int[32];
        ScaleSearch.ImportanceWeights(x, importance, rowSigma2, w);
        b.D = (Half)ScaleSearch.MakeQxQuants(x, 16, l, 1, w);
        for (int j = 0; j < 32; j++) q[j] = l[j];
        Q5Bits.Pack(q, ref b.Qh, ref b.Qs);
    }

    public static void Dequantize(in BlockQ5_0 b, Span<float> y)
    {
        float d = (float)b.D;
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b.Qh);
        for (int j = 0; j < 16; j++)
        {
            y[j] = (Q5Bits.Low(b.Qs, qh, j) - 16) * d;
            y[j + 16] = (Q5Bits.High(b.Qs, qh, j) - 16) * d;
        }
    }

    public static int SymmetricNmax => 16;

    public static void PackSymmetric(float d, ReadOnlySpan<int> q, ref BlockQ5_0 b)
    {
        b.D = (Half)d;
        Q5Bits.Pack(q, ref b.Qh, ref b.Qs);
    }

    // Σ (q − 16)·a = Σ q·a − 16·Σa, exact in int32.
    public static float Dot(in BlockQ5_0 b, ReadOnlySpan<sbyte> a, float dx, int sumA) =>
        (float)b.D * dx * (Q5Bits.Dot(b.Qs, BinaryPrimitives.ReadUInt32LittleEndian(b.Qh), a) - 16 * sumA);

    public static bool HasDotRowAvx2 => true;

    public static unsafe float DotRowAvx2(byte* w, byte* xq, int blocks) => Q5Avx2.DotRow(w, xq, blocks, Unsafe.SizeOf<BlockQ5_0>(), hasMin: false);
}

/// <summary>5-bit asymmetric, 32 values (ggml block_q5_1): x = q·d + m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ5_1 : IQuantBlock<BlockQ5_1>
{
    public Half D;
    public Half M;
    public QuantBytes4 Qh;
    public QuantBytes16 Qs;

    public static int BlockValues => 32;
    public static bool HasSearch => true;

    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ5_1 b, QuantRounding rounding)
    {
        Span<int> q = stackalloc int[32];
        if (rounding == QuantRounding.Search)
        {
            var (sd, sm) = ScaleSearch.Asymmetric(x, 31, q);
            b.D = (Half)sd;
            b.M = (Half)sm;
        }
        else
        {
            // quantize_row_q5_1_ref: d = (max − min)/31, m = min, q = (uint8)((x − min)/d + 0.5) with no clamp.
            float min = float.MaxValue, max = -float.MaxValue;
            foreach (var v in x)
            {
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / ((1 << 5) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            b.D = (Half)d;
            b.M = (Half)min;
            for (int j = 0; j < 32; j++) q[j] = (byte)((x[j] - min) * id + 0.5f);
        }
        Q5Bits.Pack(q, ref b.Qh, ref b.Qs);
    }

    // llama.cpp quantize_row_q5_1_impl with quant_weights: make_qkx3_quants(32, 31, x, w, L, &min, Laux, -0.9, 0.05, 36, false).
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ5_1 b, ReadOnlySpan<float> importance, float rowSigma2)
    {
        Span<float> w = stackalloc float[32];
        Span<byte> l = stackalloc byte[32];
        Span<byte> aux = stackalloc byte[32];
        Span<int> q = stackalloc int[32];
        ScaleSearch.ImportanceWeights(x, importance, rowSigma2, w);
        float d = ScaleSearch.MakeQkx3Quants(x, w, 31, l, out float min, aux, -0.9f, 0.05f, 36);
        b.D = (Half)d;
        b.M = (Half)(-min);
        for (int j = 0; j < 32; j++) q[j] = l[j];
        Q5Bits.Pack(q, ref b.Qh, ref b.Qs);
    }

    public static void Dequantize(in BlockQ5_1 b, Span<float> y)
    {
        float d = (float)b.D, m = (float)b.M;
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b.Qh);
        for (int j = 0; j < 16; j++)
        {
            y[j] = Q5Bits.Low(b.Qs, qh, j) * d + m;
            y[j + 16] = Q5Bits.High(b.Qs, qh, j) * d + m;
        }
    }

    public static float Dot(in BlockQ5_1 b, ReadOnlySpan<sbyte> a, float dx, int sumA) =>
        (float)b.D * dx * Q5Bits.Dot(b.Qs, BinaryPrimitives.ReadUInt32LittleEndian(b.Qh), a) + (float)b.M * (dx * sumA);

    public static bool HasDotRowAvx2 => true;

    public static unsafe float DotRowAvx2(byte* w, byte* xq, int blocks) => Q5Avx2.DotRow(w, xq, blocks, Unsafe.SizeOf<BlockQ5_1>(), hasMin: true);
}

internal static class Q5Bits
{
    /// <summary>Packs 32 levels (only their low five bits are kept, as ggml's masks do) into qh and qs.</summary>
    public static void Pack(ReadOnlySpan<int> q, ref QuantBytes4 qhBytes, ref QuantBytes16 qs)
    {
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int lo = q[j], hi = q[j + 16];
            qs[j] = (byte)((lo & 0x0F) | ((hi & 0x0F) << 4));
            qh |= (uint)((lo & 0x10) >> 4) << j;
            qh |= (uint)((hi & 0x10) >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(qhBytes, qh);
    }

    public static int Low(ReadOnlySpan<byte> qs, uint qh, int j) => (qs[j] & 0x0F) | (int)((qh >> j) << 4 & 0x10);
    public static int High(ReadOnlySpan<byte> qs, uint qh, int j) => (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);

    /// <summary>Σ q·a over the 32 unsigned 5-bit levels.</summary>
    public static int Dot(ReadOnlySpan<byte> qs, uint qh, ReadOnlySpan<sbyte> a)
    {
        int acc = 0;
        for (int j = 0; j < 16; j++) acc += Low(qs, qh, j) * a[j] + High(qs, qh, j) * a[j + 16];
        return acc;
    }
}

/// <summary>
/// The AVX2 fast-path row kernel of both 5-bit types (their layouts differ only by the min before qh):
/// per block the 32 levels as unsigned bytes (nibbles, plus 16 where the block's qh bit is set), one
/// integer dot with the activations (AVX-VNNI vpdpbusd or vpmaddubsw: 31·127·2 cannot saturate), then
/// d·dx·(Σ q·a − 16·Σa) or d·dx·Σ q·a + m·dx·Σa, as the structs' Dot.
/// </summary>
internal static unsafe class Q5Avx2
{
    public static float DotRow(byte* w, byte* xq, int blocks, int blockBytes, bool hasMin)
    {
        float* ht = QuantOps.HalfTable;
        var layout = new ActivationLayout(32, blocks);
        sbyte* a = (sbyte*)xq;
        float* scales = (float*)(xq + layout.ScalesOffset);
        int* sums = (int*)(xq + layout.SumsOffset);
        int qh = hasMin ? 4 : 2;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        float m = 0;
        int b = 0;
        // Two blocks per iteration into two accumulators, so each FMA does not wait for the previous one.
        for (; b + 1 < blocks; b += 2, w += 2 * blockBytes, a += 64)
        {
            var i0 = Block(w, qh, a, hasMin ? 0 : sums[b]);
            var i1 = Block(w + blockBytes, qh, a + 32, hasMin ? 0 : sums[b + 1]);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), Vector256.Create(QuantOps.Half(ht, w) * scales[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), Vector256.Create(QuantOps.Half(ht, w + blockBytes) * scales[b + 1]), acc1);
            if (hasMin) m += QuantOps.Half(ht, w + 2) * (scales[b] * sums[b]) + QuantOps.Half(ht, w + blockBytes + 2) * (scales[b + 1] * sums[b + 1]);
        }
        if (b < blocks)
        {
            var i0 = Block(w, qh, a, hasMin ? 0 : sums[b]);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), Vector256.Create(QuantOps.Half(ht, w) * scales[b]), acc0);
            if (hasMin) m += QuantOps.Half(ht, w + 2) * (scales[b] * sums[b]);
        }
        return Vector256.Sum(Avx.Add(acc0, acc1)) + m;
    }

    /// <summary>Σ (q − 16)·a (symmetric: <paramref name="sumA"/> is Σa) or Σ q·a (sumA 0) of one block, as 8 int32 partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Block(byte* w, int qh, sbyte* a, int sumA)
    {
        var isum = QuantKernelsAvx2.DotU8S8(Vector256<int>.Zero, Levels(w + qh + 4, *(uint*)(w + qh)), Avx.LoadVector256(a));
        return sumA == 0 ? isum : Avx2.Subtract(isum, Vector256.CreateScalar(sumA << 4));
    }

    /// <summary>
    /// The 32 levels in value order: value j (j &lt; 16) is the low nibble of qs[j], value j + 16 its high
    /// nibble, and bit j of qh adds 16 (ggml-quants.c dequantize_row_q5_0). Byte j of the vector takes
    /// byte j/8 of qh (vpshufb) and tests bit j % 8 of it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Levels(byte* qs, uint qh)
    {
        var v = Sse2.LoadVector128(qs);
        var nibble = Vector128.Create((byte)0x0F);
        var levels = Vector256.Create(Sse2.And(v, nibble), Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), nibble));
        var spread = Avx2.Shuffle(Vector256.Create(qh).AsByte(),
            Vector256.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        var bit = Vector256.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        var set = Avx2.CompareEqual(Avx2.And(spread, bit), bit);
        return Avx2.Or(levels, Avx2.And(set, Vector256.Create((byte)0x10)));
    }
}
