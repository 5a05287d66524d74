using System.Buffers.Binary;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// The scalar reference for every quantized row of the element-type table, written to be read:
/// one value at a time, in the order of the formulas. <see cref="QuantOps"/> is the fast version and
/// tests keep the two in agreement. Rounding follows ggml's reference quantizers
/// (quantize_row_q8_0_ref, quantize_row_q4_0_ref, quantize_row_q4_1_ref in ggml/src/ggml-quants.c):
/// the scale is computed in f32, its reciprocal is taken from that f32 value (not from the f16 that is
/// stored), and only then is the scale rounded to f16. The 64- and 128-value groups use the same
/// formulas with the nibble split at g/2.
/// </summary>
public static class QuantOpsNaive
{
    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        var info = QuantChecks.Require(type);
        int g = info.BlockValues;
        int blocks = QuantChecks.Blocks(info, src.Length);
        QuantChecks.Bytes(info, dst.Length, blocks, nameof(dst));
        for (int b = 0; b < blocks; b++)
        {
            var x = src.Slice(b * g, g);
            var block = dst.Slice(b * info.BlockBytes, info.BlockBytes);
            switch (info.Kind)
            {
                case QuantKind.Int8Symmetric: QuantizeInt8(x, block); break;
                case QuantKind.Int4Symmetric: QuantizeInt4(x, block); break;
                default: QuantizeInt4Asym(x, block); break;
            }
        }
    }

    public static void Dequantize(ElementType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var info = QuantChecks.Require(type);
        int g = info.BlockValues;
        int blocks = QuantChecks.Blocks(info, dst.Length);
        QuantChecks.Bytes(info, src.Length, blocks, nameof(src));
        for (int b = 0; b < blocks; b++)
        {
            var block = src.Slice(b * info.BlockBytes, info.BlockBytes);
            var y = dst.Slice(b * g, g);
            float d = QuantChecks.ReadHalf(block, 0);
            switch (info.Kind)
            {
                case QuantKind.Int8Symmetric:
                    for (int j = 0; j < g; j++) y[j] = (sbyte)block[2 + j] * d;
                    break;
                case QuantKind.Int4Symmetric:
                    for (int j = 0; j < g / 2; j++)
                    {
                        y[j] = ((block[2 + j] & 0x0F) - 8) * d;
                        y[j + g / 2] = ((block[2 + j] >> 4) - 8) * d;
                    }
                    break;
                default:
                    float m = QuantChecks.ReadHalf(block, 2);
                    for (int j = 0; j < g / 2; j++)
                    {
                        y[j] = (block[4 + j] & 0x0F) * d + m;
                        y[j + g / 2] = (block[4 + j] >> 4) * d + m;
                    }
                    break;
            }
        }
    }

    /// <summary>Exact path: f32 activations times weights dequantized block by block.</summary>
    public static float DotExact(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        var info = QuantChecks.Require(type);
        int g = info.BlockValues;
        int blocks = QuantChecks.Blocks(info, x.Length);
        QuantChecks.Bytes(info, row.Length, blocks, nameof(row));
        Span<float> tmp = stackalloc float[g];
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            Dequantize(type, row.Slice(b * info.BlockBytes, info.BlockBytes), tmp);
            var xs = x.Slice(b * g, g);
            for (int j = 0; j < g; j++) sum += tmp[j] * xs[j];
        }
        return sum;
    }

    /// <summary>
    /// Quantizes one activation row to int8 blocks of the weight's group size: per block
    /// q = round-half-even(x · 127/amax), scale amax/127 rounded to f16 (ggml's quantize_row_q8_0 on
    /// x86, see <see cref="ActivationInverseScale"/>), and the integer sum of the block's q.
    /// Layout: see <see cref="ActivationLayout"/>.
    /// </summary>
    public static void QuantizeActivations(ElementType type, ReadOnlySpan<float> x, Span<byte> xq)
    {
        var info = QuantChecks.Require(type);
        int g = info.BlockValues;
        int blocks = QuantChecks.Blocks(info, x.Length);
        var layout = new ActivationLayout(g, blocks);
        QuantChecks.Activations(layout, xq.Length);
        for (int b = 0; b < blocks; b++)
        {
            var xs = x.Slice(b * g, g);
            float amax = 0;
            foreach (var v in xs) amax = MathF.Max(amax, MathF.Abs(v));
            float id = ActivationInverseScale(amax);
            int isum = 0;
            for (int j = 0; j < g; j++)
            {
                int q = (int)MathF.Round(xs[j] * id, MidpointRounding.ToEven);
                xq[b * g + j] = (byte)(sbyte)q;
                isum += q;
            }
            BinaryPrimitives.WriteSingleLittleEndian(xq[layout.ScaleOffset(b)..], ActivationScale(amax));
            BinaryPrimitives.WriteInt32LittleEndian(xq[layout.SumOffset(b)..], isum);
        }
    }

    /// <summary>
    /// Activations are quantized exactly as ggml's CPU backend quantizes them for Q8_0/Q4_0 matmuls
    /// (quantize_row_q8_0): the multiplier is 127/amax computed in f32, values round half to even,
    /// and the stored scale is amax/127 rounded to f16 (block_q8_0 keeps d as ggml_half). Matching it
    /// is what lets llama.cpp check our fast path to within float rounding.
    /// </summary>
    public static float ActivationInverseScale(float amax) => amax != 0 ? 127f / amax : 0f;

    /// <inheritdoc cref="ActivationInverseScale"/>
    public static float ActivationScale(float amax) => (float)(Half)(amax / 127f);

    /// <summary>
    /// Fast path reference: per block an exact integer dot product of weight quants and activation
    /// quants, then scaled: Q8 dw·dx·Σ w·a; Q4 sym dw·dx·Σ (q−8)·a; Q4 asym dw·dx·Σ q·a + m·dx·Σ a.
    /// </summary>
    public static float DotFast(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> xq)
    {
        var info = QuantChecks.Require(type);
        int g = info.BlockValues;
        var layout = ActivationLayout.FromBytes(info, xq.Length);
        int blocks = layout.Blocks;
        QuantChecks.Bytes(info, row.Length, blocks, nameof(row));
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var w = row.Slice(b * info.BlockBytes, info.BlockBytes);
            var a = xq.Slice(b * g, g);
            float dx = BinaryPrimitives.ReadSingleLittleEndian(xq[layout.ScaleOffset(b)..]);
            float dw = QuantChecks.ReadHalf(w, 0);
            int acc = 0;
            switch (info.Kind)
            {
                case QuantKind.Int8Symmetric:
                    for (int j = 0; j < g; j++) acc += (sbyte)w[2 + j] * (sbyte)a[j];
                    sum += dw * dx * acc;
                    break;
                case QuantKind.Int4Symmetric:
                    for (int j = 0; j < g / 2; j++)
                    {
                        acc += ((w[2 + j] & 0x0F) - 8) * (sbyte)a[j];
                        acc += ((w[2 + j] >> 4) - 8) * (sbyte)a[g / 2 + j];
                    }
                    sum += dw * dx * acc;
                    break;
                default:
                    for (int j = 0; j < g / 2; j++)
                    {
                        acc += (w[4 + j] & 0x0F) * (sbyte)a[j];
                        acc += (w[4 + j] >> 4) * (sbyte)a[g / 2 + j];
                    }
                    int isum = BinaryPrimitives.ReadInt32LittleEndian(xq[layout.SumOffset(b)..]);
                    sum += dw * dx * acc + QuantChecks.ReadHalf(w, 2) * (dx * isum);
                    break;
            }
        }
        return sum;
    }

    private static void WriteHalf(Span<byte> b, int offset, float v) => BinaryPrimitives.WriteHalfLittleEndian(b[offset..], (Half)v);

    // ggml quantize_row_q8_0_ref: d = amax/127, q = roundf(x * (1/d)) (half away from zero).
    private static void QuantizeInt8(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0;
        foreach (var v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        WriteHalf(block, 0, d);
        for (int j = 0; j < x.Length; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    // ggml quantize_row_q4_0_ref: d = (signed value of largest magnitude, first one on ties) / -8,
    // q = min(15, (int8)(x * (1/d) + 8.5)) where the cast truncates toward zero.
    private static void QuantizeInt4(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0, max = 0;
        foreach (var v in x)
        {
            if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        WriteHalf(block, 0, d);
        int half = x.Length / 2;
        for (int j = 0; j < half; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int hi = Math.Min(15, (int)(sbyte)(x[j + half] * id + 8.5f));
            block[2 + j] = (byte)(lo | (hi << 4));
        }
    }

    // ggml quantize_row_q4_1_ref: d = (max - min)/15, m = min, q = min(15, (int8)((x - min) * (1/d) + 0.5)).
    private static void QuantizeInt4Asym(ReadOnlySpan<float> x, Span<byte> block)
    {
        float min = float.MaxValue, max = float.MinValue;
        foreach (var v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        float d = (max - min) / 15f;
        float id = d != 0 ? 1f / d : 0f;
        WriteHalf(block, 0, d);
        WriteHalf(block, 2, min);
        int half = x.Length / 2;
        for (int j = 0; j < half; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)((x[j] - min) * id + 0.5f));
            int hi = Math.Min(15, (int)(sbyte)((x[j + half] - min) * id + 0.5f));
            block[4 + j] = (byte)(lo | (hi << 4));
        }
    }
}
