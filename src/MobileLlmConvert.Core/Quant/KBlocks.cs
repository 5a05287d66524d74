using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MobileLlmConvert.Core.Quant;

// ggml's K-quants Q4_K and Q6_K: super-blocks of 256 values (ggml/src/ggml-common.h block_q4_K /
// block_q6_K; ggml-quants.c quantize_row_q4_K_ref, quantize_row_q6_K_ref, dequantize_row_q4_K/q6_K,
// get_scale_min_k4). The reference quantizers already search the sub-block scales (make_qkx2_quants,
// make_qx_quants), so Search and Rtn both write ggml's reference bytes.

/// <summary>
/// 4-bit K-quant (ggml block_q4_K): eight 32-value sub-blocks; x = d·sc_j·q − dmin·m_j with 6-bit sc_j, m_j
/// packed in 12 bytes. qs holds, per 64 values, 32 bytes: value l in the low nibble, value l + 32 in the high.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_K : IQuantBlock<BlockQ4_K>
{
    public Half D;
    public Half DMin;
    public QuantBytes12 Scales;
    public QuantBytes128 Qs;

    public static int BlockValues => 256;
    public static bool HasSearch => false;

    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ4_K b, QuantRounding rounding)
    {
        Span<byte> levels = stackalloc byte[256];
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xs = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xs[l] * xs[l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(xs[l]);
            scales[j] = ScaleSearch.MakeQkx2Quants(xs, weights, 15, levels.Slice(32 * j, 32), out mins[j], aux, -1f, 0.1f, 20);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        Span<byte> ls = stackalloc byte[8];
        Span<byte> lm = stackalloc byte[8];
        for (int j = 0; j < 8; j++)
        {
            ls[j] = Math.Min((byte)63, (byte)ScaleSearch.NearestInt(invScale * scales[j]));
            lm[j] = Math.Min((byte)63, (byte)ScaleSearch.NearestInt(invMin * mins[j]));
        }
        Finish(x, ref b, ls, lm, maxScale / 63f, maxMin / 63f, levels);
    }

    /// <summary>
    /// llama.cpp quantize_row_q4_K_impl with quant_weights: σ² = 2·mean x² of the super-block, sub-block
    /// weights qw·sqrt(σ² + x²), make_qkx3_quants per sub-block, and the 6-bit scales and mins by
    /// make_qp_quants weighted with each sub-block's weight sum.
    /// </summary>
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ4_K b, ReadOnlySpan<float> importance, float rowSigma2)
    {
        Span<byte> levels = stackalloc byte[256];
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> sw = stackalloc float[8];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        float sumX2 = 0;
        for (int l = 0; l < 256; l++) sumX2 += x[l] * x[l];
        float sigma2 = 2 * sumX2 / 256;
        for (int j = 0; j < 8; j++)
        {
            var xs = x.Slice(32 * j, 32);
            ScaleSearch.ImportanceWeights(xs, importance.Slice(32 * j, 32), sigma2, weights);
            float sumW = 0;
            for (int l = 0; l < 32; l++) sumW += weights[l];
            sw[j] = sumW;
            scales[j] = ScaleSearch.MakeQkx3Quants(xs, weights, 15, levels.Slice(32 * j, 32), out mins[j], aux, -0.9f, 0.05f, 36);
        }
        Span<byte> ls = stackalloc byte[8];
        Span<byte> lm = stackalloc byte[8];
        float dBlock = ScaleSearch.MakeQpQuants(scales, 63, ls, sw);
        float mBlock = ScaleSearch.MakeQpQuants(mins, 63, lm, sw);
        Finish(x, ref b, ls, lm, dBlock, mBlock, levels);
    }

    /// <summary>Packs the 6-bit scales and mins and d, dmin, then re-rounds every value against them and packs the nibbles.</summary>
    private static void Finish(ReadOnlySpan<float> x, ref BlockQ4_K b, ReadOnlySpan<byte> ls, ReadOnlySpan<byte> lm, float superScale, float superMin, Span<byte> levels)
    {
        Span<byte> sc = b.Scales;
        sc.Clear();
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                sc[j] = ls[j];
                sc[j + 4] = lm[j];
            }
            else
            {
                sc[j + 4] = (byte)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                sc[j - 4] |= (byte)((ls[j] >> 4) << 6);
                sc[j] |= (byte)((lm[j] >> 4) << 6);
            }
        }
        b.D = (Half)superScale;
        b.DMin = (Half)superMin;
        for (int j = 0; j < 8; j++)
        {
            var (s, m) = ScaleMin(sc, j);
            float d = (float)b.D * s;
            if (d == 0) continue;
            float dm = (float)b.DMin * m;
            for (int i = 0; i < 32; i++) levels[32 * j + i] = (byte)Math.Max(0, Math.Min(15, ScaleSearch.NearestInt((x[32 * j + i] + dm) / d)));
        }
        for (int j = 0, o = 0; j < 256; j += 64, o += 32)
        {
            for (int l = 0; l < 32; l++) b.Qs[o + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 4));
        }
    }

    /// <summary>ggml get_scale_min_k4: the 6-bit scale and min of sub-block j.</summary>
    private static (int Scale, int Min) ScaleMin(ReadOnlySpan<byte> q, int j) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    public static void Dequantize(in BlockQ4_K b, Span<float> y)
    {
        float d = (float)b.D, min = (float)b.DMin;
        for (int j = 0, o = 0; j < 8; j += 2, o += 32)
        {
            var (s1, m1) = ScaleMin(b.Scales, j);
            var (s2, m2) = ScaleMin(b.Scales, j + 1);
            float d1 = d * s1, dm1 = min * m1, d2 = d * s2, dm2 = min * m2;
            for (int l = 0; l < 32; l++) y[32 * j + l] = d1 * (b.Qs[o + l] & 0xF) - dm1;
            for (int l = 0; l < 32; l++) y[32 * j + 32 + l] = d2 * (b.Qs[o + l] >> 4) - dm2;
        }
    }

    // d·dx·Σ_j sc_j·Σ q·a − dmin·dx·Σ_j m_j·Σ a over the sub-blocks; both integer sums are exact.
    public static float Dot(in BlockQ4_K b, ReadOnlySpan<sbyte> a, float dx, int sumA)
    {
        int isc = 0, imin = 0;
        for (int j = 0, o = 0; j < 8; j += 2, o += 32)
        {
            var (s1, m1) = ScaleMin(b.Scales, j);
            var (s2, m2) = ScaleMin(b.Scales, j + 1);
            int q1 = 0, q2 = 0, a1 = 0, a2 = 0;
            for (int l = 0; l < 32; l++)
            {
                int lo = a[32 * j + l], hi = a[32 * j + 32 + l];
                q1 += (b.Qs[o + l] & 0xF) * lo;
                q2 += (b.Qs[o + l] >> 4) * hi;
                a1 += lo;
                a2 += hi;
            }
            isc += s1 * q1 + s2 * q2;
            imin += m1 * a1 + m2 * a2;
        }
        return dx * ((float)b.D * isc - (float)b.DMin * imin);
    }

    public static bool HasDotRowAvx2 => true;

    /// <summary>
    /// <see cref="Dot"/> with AVX2, super-block by super-block: per pair of sub-blocks the 32 quant bytes
    /// give both sub-blocks' levels (low and high nibbles), Σ q·a and Σ a per sub-block are integer dots
    /// (Σ a against a vector of ones), weighted by the 6-bit scale and min in int32 lanes (at most
    /// 8·63·32·15·127 &lt; 2^31), then the same f32 expression as <see cref="Dot"/>.
    /// </summary>
    public static unsafe float DotRowAvx2(byte* w, byte* xq, int blocks)
    {
        const int Bytes = 144;
        var layout = new ActivationLayout(256, blocks);
        sbyte* a = (sbyte*)xq;
        float* scales = (float*)(xq + layout.ScalesOffset);
        var low = Vector256.Create((byte)0x0F);
        var ones = Vector256.Create((byte)1);
        float sum = 0;
        for (int b = 0; b < blocks; b++, w += Bytes, a += 256)
        {
            var sc = new ReadOnlySpan<byte>(w + 4, 12);
            var q = Vector256<int>.Zero;
            var mins = Vector256<int>.Zero;
            for (int p = 0; p < 4; p++)
            {
                var v = Avx.LoadVector256(w + 16 + 32 * p);
                var a1 = Avx.LoadVector256(a + 64 * p);
                var a2 = Avx.LoadVector256(a + 64 * p + 32);
                var (s1, m1) = ScaleMin(sc, 2 * p);
                var (s2, m2) = ScaleMin(sc, 2 * p + 1);
                var q1 = QuantKernelsAvx2.DotU8S8(Vector256<int>.Zero, Avx2.And(v, low), a1);
                var q2 = QuantKernelsAvx2.DotU8S8(Vector256<int>.Zero, Avx2.And(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), low), a2);
                q = Avx2.Add(q, Avx2.Add(Avx2.MultiplyLow(q1, Vector256.Create(s1)), Avx2.MultiplyLow(q2, Vector256.Create(s2))));
                var sa1 = QuantKernelsAvx2.DotU8S8(Vector256<int>.Zero, ones, a1);
                var sa2 = QuantKernelsAvx2.DotU8S8(Vector256<int>.Zero, ones, a2);
                mins = Avx2.Add(mins, Avx2.Add(Avx2.MultiplyLow(sa1, Vector256.Create(m1)), Avx2.MultiplyLow(sa2, Vector256.Create(m2))));
            }
            int isc = Vector256.Sum(q), imin = Vector256.Sum(mins);
            sum += scales[b] * ((float)*(Half*)w * isc - (float)*(Half*)(w + 2) * imin);
        }
        return sum;
    }
}

/// <summary>
/// 6-bit K-quant (ggml block_q6_K): sixteen 16-value sub-blocks; x = d·sc_j·(q − 32) with int8 sc_j.
/// Per 128 values: ql 64 bytes (values l and l + 64 in the nibbles of ql[l], l + 32 and l + 96 in ql[l + 32]),
/// qh 32 bytes (two high bits of values l, l + 32, l + 64, l + 96 in qh[l]).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ6_K : IQuantBlock<BlockQ6_K>
{
    public QuantBytes128 Ql;
    public QuantBytes64 Qh;
    public QuantBytes16 Scales;
    public Half D;

    public static int BlockValues => 256;
    public static bool HasSearch => false;

    public static void Quantize(ReadOnlySpan<float> x, ref BlockQ6_K b, QuantRounding rounding) => QuantizeCore(x, ref b, default);

    /// <summary>llama.cpp quantize_row_q6_K_impl with quant_weights: make_qx_quants(16, 32, x, L, 1, qw), the importance itself as weights.</summary>
    public static void QuantizeWeighted(ReadOnlySpan<float> x, ref BlockQ6_K b, ReadOnlySpan<float> importance, float rowSigma2) => QuantizeCore(x, ref b, importance);

    private static void QuantizeCore(ReadOnlySpan<float> x, ref BlockQ6_K b, ReadOnlySpan<float> importance)
    {
        Span<sbyte> levels = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            var qw = importance.IsEmpty ? default : importance.Slice(16 * ib, 16);
            float scale = ScaleSearch.MakeQxQuants(x.Slice(16 * ib, 16), 32, levels.Slice(16 * ib, 16), 1, qw);
            scales[ib] = scale;
            float abs = MathF.Abs(scale);
            if (abs > maxAbsScale) { maxAbsScale = abs; maxScale = scale; }
        }
        b = default;
        if (maxAbsScale < ScaleSearch.GroupMaxEps) return;
        float iscale = -128f / maxScale;
        b.D = (Half)(1 / iscale);
        for (int ib = 0; ib < 16; ib++) b.Scales[ib] = (byte)(sbyte)Math.Min(127, ScaleSearch.NearestInt(iscale * scales[ib]));
        for (int j = 0; j < 16; j++)
        {
            float d = (float)b.D * (sbyte)b.Scales[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++) levels[16 * j + i] = (sbyte)(Math.Max(-32, Math.Min(31, ScaleSearch.NearestInt(x[16 * j + i] / d))) + 32);
        }
        for (int j = 0, ql = 0, qh = 0; j < 256; j += 128, ql += 64, qh += 32)
        {
            for (int l = 0; l < 32; l++)
            {
                int q1 = levels[j + l], q2 = levels[j + l + 32], q3 = levels[j + l + 64], q4 = levels[j + l + 96];
                b.Ql[ql + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                b.Ql[ql + l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                b.Qh[qh + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }

    /// <summary>The signed level (q − 32) of value v (0..255).</summary>
    private static int Level(in BlockQ6_K b, int v)
    {
        int half = v >> 7, k = (v >> 5) & 3, l = v & 31;
        int low = b.Ql[64 * half + l + (k & 1) * 32];
        low = k >= 2 ? low >> 4 : low & 0xF;
        int high = (b.Qh[32 * half + l] >> (2 * k)) & 3;
        return (low | (high << 4)) - 32;
    }

    public static void Dequantize(in BlockQ6_K b, Span<float> y)
    {
        float d = (float)b.D;
        for (int v = 0; v < 256; v++) y[v] = d * (sbyte)b.Scales[v >> 4] * Level(b, v);
    }

    public static float Dot(in BlockQ6_K b, ReadOnlySpan<sbyte> a, float dx, int sumA)
    {
        int acc = 0;
        for (int s = 0; s < 16; s++)
        {
            int sub = 0;
            for (int v = 16 * s; v < 16 * s + 16; v++) sub += Level(b, v) * a[v];
            acc += (sbyte)b.Scales[s] * sub;
        }
        return (float)b.D * dx * acc;
    }

    public static bool HasDotRowAvx2 => true;

    /// <summary>
    /// <see cref="Dot"/> with AVX2. Per 128 values, ql[0..31], ql[32..63] and qh[0..31] give four runs of
    /// 32 levels (value 32k + l: a nibble of ql, low for k &lt; 2, and bits 2k, 2k + 1 of qh[l]), as
    /// unsigned bytes 0..63. One integer dot per run gives eight int32 sums of four values: lanes 0-3
    /// are one 16-value sub-block, lanes 4-7 the next, so Σ (q − 32)·a per lane is weighted by its
    /// sub-block's int8 scale in int32 (exact: 16·|sc|·Σ|q − 32|·|a| ≤ 16·128·32·16·127 &lt; 2^31), the
    /// same integer as <see cref="Dot"/>'s, scaled by d·dx once per block.
    /// </summary>
    public static unsafe float DotRowAvx2(byte* w, byte* xq, int blocks)
    {
        const int Bytes = 210;
        var layout = new ActivationLayout(256, blocks);
        sbyte* a = (sbyte*)xq;
        float* dxs = (float*)(xq + layout.ScalesOffset);
        var low = Vector256.Create((byte)0x0F);
        var two = Vector256.Create((byte)0x03);
        var ones = Vector256.Create((byte)1);
        var lowPair = Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1);
        float sum = 0;
        for (int b = 0; b < blocks; b++, w += Bytes, a += 256)
        {
            // The sixteen int8 sub-block scales (bytes 192..207) as int32, eight per vector.
            var sc0 = Avx2.ConvertToVector256Int32((sbyte*)w + 192);
            var sc1 = Avx2.ConvertToVector256Int32((sbyte*)w + 200);
            var acc = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var ql0 = Avx.LoadVector256(w + 64 * h);
                var ql1 = Avx.LoadVector256(w + 64 * h + 32);
                var qh = Avx.LoadVector256(w + 128 + 32 * h);
                var sc = h == 0 ? sc0 : sc1;
                for (int k = 0; k < 4; k++)
                {
                    var ql = (k & 1) == 0 ? ql0 : ql1;
                    var nib = k < 2 ? Avx2.And(ql, low) : Avx2.And(Avx2.ShiftRightLogical(ql.AsUInt16(), 4).AsByte(), low);
                    var high = Avx2.And(Vector256.ShiftRightLogical(qh.AsUInt16(), 2 * k).AsByte(), two);
                    var q = Avx2.Or(nib, Avx2.ShiftLeftLogical(high.AsUInt16(), 4).AsByte());
                    var av = Avx.LoadVector256(a + 128 * h + 32 * k);
                    var dot = QuantKernelsAvx2.DotU8S8(Vector256<int>.Zero, q, av);
                    var sa = QuantKernelsAvx2.DotU8S8(Vector256<int>.Zero, ones, av);
                    var level = Avx2.Subtract(dot, Avx2.ShiftLeftLogical(sa, 5));
                    // Sub-blocks 2k and 2k + 1 of this half: scales 2k, 2k + 1 of its eight.
                    var scale = Avx2.PermuteVar8x32(sc, Avx2.Add(lowPair, Vector256.Create(2 * k)));
                    acc = Avx2.Add(acc, Avx2.MultiplyLow(level, scale));
                }
            }
            sum += (float)*(Half*)(w + 208) * dxs[b] * Vector256.Sum(acc);
        }
        return sum;
    }
}
