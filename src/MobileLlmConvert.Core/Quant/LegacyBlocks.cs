using System.Buffers.Binary;
using System.Runtime.Intrinsics;

namespace MobileLlmConvert.Core.Quant;

// The arithmetic of the int8 / int4 block families (groups 32, 64, 128), on a block's bytes. Round to
// nearest follows ggml's reference quantizers (ggml/src/ggml-quants.c: quantize_row_q8_0_ref,
// quantize_row_q4_0_ref, quantize_row_q4_1_ref): the scale is computed in f32, its reciprocal is taken
// from that f32 value (not from the f16 that is stored), and only then is the scale rounded to f16.
// The 64- and 128-value groups use the same formulas with the nibble split at g/2.

internal static class Int8Sym
{
    // ggml quantize_row_q8_0_ref: d = amax/127, q = roundf(x * (1/d)) (half away from zero).
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0;
        foreach (var v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        BlockIo.WriteHalf(block, 0, d);
        for (int j = 0; j < x.Length; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = BlockIo.ReadHalf(block, 0);
        for (int j = 0; j < y.Length; j++) y[j] = (sbyte)block[2 + j] * d;
    }

    /// <summary>
    /// <see cref="Quantize"/> for a row of blocks of <paramref name="g"/> values, sixteen values per
    /// 512-bit vector with the scalar's f32 operations (amax, amax/127, 1/d, x·id), rounding half away
    /// from zero as trunc(v) plus the sign where |v − trunc(v)| ≥ 0.5 (v − trunc(v) is exact). A block
    /// whose amax is non-zero below 1e-30 (1/d may overflow) or not finite takes the scalar itself.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static bool TryQuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, int g)
    {
        const int n = 16;
        if (g % n != 0) return false;
        int blocks = src.Length / g, stride = 2 + g;
        var half = Vector512.Create(0.5f);
        for (int b = 0; b < blocks; b++)
        {
            var x = src.Slice(b * g, g);
            var block = dst.Slice(b * stride, stride);
            var amax = Vector512<float>.Zero;
            var nan = Vector512<float>.Zero;
            for (int j = 0; j < g; j += n)
            {
                var v = Vector512.Create(x.Slice(j, n));
                amax = Vector512.Max(amax, Vector512.Abs(v));
                nan += v - v;
            }
            float m = MaxOf(amax);
            if (!Vector512.EqualsAll(nan, Vector512<float>.Zero) || (m != 0 && m < 1e-30f))
            {
                Quantize(x, block);
                continue;
            }
            float d = m / 127f;
            float id = d != 0 ? 1f / d : 0f;
            BlockIo.WriteHalf(block, 0, d);
            var vid = Vector512.Create(id);
            for (int j = 0; j < g; j += n)
            {
                var v = Vector512.Create(x.Slice(j, n)) * vid;
                var t = Vector512.Truncate(v);
                var away = Vector512.GreaterThanOrEqual(Vector512.Abs(v - t), half) & Vector512.CopySign(Vector512<float>.One, v);
                var q = Vector512.ConvertToInt32(t + away);
                var narrow = Vector512.Narrow(Vector512.Narrow(q, q), Vector512.Narrow(q, q)).AsByte();
                narrow.GetLower().GetLower().CopyTo(block.Slice(2 + j, n));
            }
        }
        return true;
    }

    private static float MaxOf(Vector512<float> v)
    {
        float m = 0;
        for (int i = 0; i < Vector512<float>.Count; i++) m = MathF.Max(m, v.GetElement(i));
        return m;
    }

    public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<sbyte> a, float dx)
    {
        int acc = 0;
        for (int j = 0; j < a.Length; j++) acc += (sbyte)w[2 + j] * a[j];
        return BlockIo.ReadHalf(w, 0) * dx * acc;
    }
}

internal static class Int4Sym
{
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block, QuantRounding rounding)
    {
        int half = x.Length / 2;
        if (rounding == QuantRounding.Search)
        {
            Span<int> l = stackalloc int[x.Length];
            BlockIo.WriteHalf(block, 0, ScaleSearch.Symmetric(x, 8, l));
            for (int j = 0; j < half; j++) block[2 + j] = (byte)(l[j] + 8 | (l[j + half] + 8) << 4);
            return;
        }
        // ggml quantize_row_q4_0_ref: d = (signed value of largest magnitude, first one on ties) / -8,
        // q = min(15, (int8)(x * (1/d) + 8.5)) where the cast truncates toward zero.
        float amax = 0, max = 0;
        foreach (var v in x)
        {
            if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        BlockIo.WriteHalf(block, 0, d);
        for (int j = 0; j < half; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int hi = Math.Min(15, (int)(sbyte)(x[j + half] * id + 8.5f));
            block[2 + j] = (byte)(lo | (hi << 4));
        }
    }

    // llama.cpp quantize_row_q4_0_impl with quant_weights: make_qx_quants(n, 8, x, L, 1, w) with the
    // importance weights; the f32 scale picks the levels, then it is stored as f16. Groups 64/128 the same with n = g.
    public static void QuantizeWeighted(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> qw, float rowSigma2)
    {
        int half = x.Length / 2;
        Span<float> w = stackalloc float[x.Length];
        Span<sbyte> l = stackalloc sbyte[x.Length];
        ScaleSearch.ImportanceWeights(x, qw, rowSigma2, w);
        BlockIo.WriteHalf(block, 0, ScaleSearch.MakeQxQuants(x, 8, l, 1, w));
        for (int j = 0; j < half; j++) block[2 + j] = (byte)((byte)l[j] | (byte)l[j + half] << 4);
    }

    /// <summary>The block from its scale and its levels q in [0, 16): f16 d, then element j in the low nibble of byte j, j + g/2 in the high one.</summary>
    public static void Pack(float d, ReadOnlySpan<int> q, Span<byte> block)
    {
        int half = q.Length / 2;
        BlockIo.WriteHalf(block, 0, d);
        for (int j = 0; j < half; j++) block[2 + j] = (byte)(q[j] | q[j + half] << 4);
    }

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = BlockIo.ReadHalf(block, 0);
        int half = y.Length / 2;
        for (int j = 0; j < half; j++)
        {
            y[j] = ((block[2 + j] & 0x0F) - 8) * d;
            y[j + half] = ((block[2 + j] >> 4) - 8) * d;
        }
    }

    public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<sbyte> a, float dx)
    {
        int half = a.Length / 2, acc = 0;
        for (int j = 0; j < half; j++)
        {
            acc += ((w[2 + j] & 0x0F) - 8) * a[j];
            acc += ((w[2 + j] >> 4) - 8) * a[half + j];
        }
        return BlockIo.ReadHalf(w, 0) * dx * acc;
    }
}

internal static class Int4Asym
{
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block, QuantRounding rounding)
    {
        int half = x.Length / 2;
        if (rounding == QuantRounding.Search)
        {
            Span<int> l = stackalloc int[x.Length];
            var (sd, sm) = ScaleSearch.Asymmetric(x, 15, l);
            BlockIo.WriteHalf(block, 0, sd);
            BlockIo.WriteHalf(block, 2, sm);
            for (int j = 0; j < half; j++) block[4 + j] = (byte)(l[j] | l[j + half] << 4);
            return;
        }
        // ggml quantize_row_q4_1_ref: d = (max - min)/15, m = min, q = min(15, (int8)((x - min) * (1/d) + 0.5)).
        float min = float.MaxValue, max = float.MinValue;
        foreach (var v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        float d = (max - min) / 15f;
        float id = d != 0 ? 1f / d : 0f;
        BlockIo.WriteHalf(block, 0, d);
        BlockIo.WriteHalf(block, 2, min);
        for (int j = 0; j < half; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)((x[j] - min) * id + 0.5f));
            int hi = Math.Min(15, (int)(sbyte)((x[j + half] - min) * id + 0.5f));
            block[4 + j] = (byte)(lo | (hi << 4));
        }
    }

    // llama.cpp quantize_row_q4_1_impl with quant_weights: make_qkx3_quants(n, 15, x, w, L, &min, Laux,
    // -0.9, 0.05, 36, false); d and m = -min stored as f16. Groups 64/128 the same with n = g.
    public static void QuantizeWeighted(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> qw, float rowSigma2)
    {
        int half = x.Length / 2;
        Span<float> w = stackalloc float[x.Length];
        Span<byte> l = stackalloc byte[x.Length];
        Span<byte> aux = stackalloc byte[x.Length];
        ScaleSearch.ImportanceWeights(x, qw, rowSigma2, w);
        float d = ScaleSearch.MakeQkx3Quants(x, w, 15, l, out float min, aux, -0.9f, 0.05f, 36);
        BlockIo.WriteHalf(block, 0, d);
        BlockIo.WriteHalf(block, 2, -min);
        for (int j = 0; j < half; j++) block[4 + j] = (byte)(l[j] | l[j + half] << 4);
    }

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = BlockIo.ReadHalf(block, 0);
        float m = BlockIo.ReadHalf(block, 2);
        int half = y.Length / 2;
        for (int j = 0; j < half; j++)
        {
            y[j] = (block[4 + j] & 0x0F) * d + m;
            y[j + half] = (block[4 + j] >> 4) * d + m;
        }
    }

    public static float Dot(ReadOnlySpan<byte> w, ReadOnlySpan<sbyte> a, float dx, int sumA)
    {
        int half = a.Length / 2, acc = 0;
        for (int j = 0; j < half; j++)
        {
            acc += (w[4 + j] & 0x0F) * a[j];
            acc += (w[4 + j] >> 4) * a[half + j];
        }
        return BlockIo.ReadHalf(w, 0) * dx * acc + BlockIo.ReadHalf(w, 2) * (dx * sumA);
    }
}

internal static class BlockIo
{
    public static float ReadHalf(ReadOnlySpan<byte> b, int offset) => (float)BinaryPrimitives.ReadHalfLittleEndian(b[offset..]);
    public static void WriteHalf(Span<byte> b, int offset, float v) => BinaryPrimitives.WriteHalfLittleEndian(b[offset..], (Half)v);
}
