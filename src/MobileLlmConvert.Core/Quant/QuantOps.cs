using System.Buffers.Binary;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// Quantize, dequantize and dot products for every quantized row of the element-type table.
/// Rounding follows ggml's reference quantizers (REFERENCE.md, quant blocks) so a Q8_0/Q4_0/Q4_1
/// block is byte-for-byte what llama.cpp's own quantizer writes; the 64- and 128-value groups use
/// the same formulas with the nibble split at g/2.
/// The executor's fast path quantizes activations once per matrix multiply into
/// <see cref="ActivationBytes"/> bytes per row (per block: f32 scale, f32 sum, g int8 values), then
/// uses integer dot products against packed weight blocks.
/// </summary>
public static class QuantOps
{
    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        var info = Require(type);
        int g = info.BlockValues;
        if (src.Length % g != 0) throw new ArgumentException($"{src.Length} values are not whole {info.Name} blocks of {g}");
        for (int b = 0; b < src.Length / g; b++)
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
        var info = Require(type);
        int g = info.BlockValues;
        for (int b = 0; b < dst.Length / g; b++)
        {
            var block = src.Slice(b * info.BlockBytes, info.BlockBytes);
            var y = dst.Slice(b * g, g);
            float d = ReadHalf(block, 0);
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
                    float m = ReadHalf(block, 2);
                    for (int j = 0; j < g / 2; j++)
                    {
                        y[j] = (block[4 + j] & 0x0F) * d + m;
                        y[j + g / 2] = (block[4 + j] >> 4) * d + m;
                    }
                    break;
            }
        }
    }

    /// <summary>Exact path: f32 activations times weights dequantized block by block on the fly.</summary>
    public static float DotExact(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        var info = Require(type);
        int g = info.BlockValues;
        Span<float> tmp = stackalloc float[g];
        float sum = 0;
        for (int b = 0; b < x.Length / g; b++)
        {
            Dequantize(type, row.Slice(b * info.BlockBytes, info.BlockBytes), tmp);
            var xs = x.Slice(b * g, g);
            for (int j = 0; j < g; j++) sum += tmp[j] * xs[j];
        }
        return sum;
    }

    /// <summary>Bytes of one activation row of <paramref name="cols"/> values quantized for <see cref="DotFast"/>.</summary>
    public static int ActivationBytes(ElementType type, int cols)
    {
        int g = Require(type).BlockValues;
        return checked(cols / g * (8 + g));
    }

    /// <summary>Quantizes one activation row to int8 blocks of the weight's group size (scale amax/127, as Q8_0).</summary>
    public static void QuantizeActivations(ElementType type, ReadOnlySpan<float> x, Span<byte> xq)
    {
        int g = Require(type).BlockValues;
        for (int b = 0; b < x.Length / g; b++)
        {
            var xs = x.Slice(b * g, g);
            var block = xq.Slice(b * (8 + g), 8 + g);
            float amax = 0;
            foreach (var v in xs) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            int isum = 0;
            for (int j = 0; j < g; j++)
            {
                int q = (int)MathF.Round(xs[j] * id, MidpointRounding.AwayFromZero);
                block[8 + j] = (byte)(sbyte)q;
                isum += q;
            }
            BinaryPrimitives.WriteSingleLittleEndian(block, d);
            BinaryPrimitives.WriteSingleLittleEndian(block[4..], d * isum);
        }
    }

    /// <summary>Fast path: integer dot products of packed weights with quantized activations.</summary>
    public static float DotFast(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> xq)
    {
        var info = Require(type);
        int g = info.BlockValues;
        int blocks = xq.Length / (8 + g);
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var w = row.Slice(b * info.BlockBytes, info.BlockBytes);
            var a = xq.Slice(b * (8 + g), 8 + g);
            float dx = BinaryPrimitives.ReadSingleLittleEndian(a);
            float dw = ReadHalf(w, 0);
            int acc = 0;
            switch (info.Kind)
            {
                case QuantKind.Int8Symmetric:
                    for (int j = 0; j < g; j++) acc += (sbyte)w[2 + j] * (sbyte)a[8 + j];
                    sum += dw * dx * acc;
                    break;
                case QuantKind.Int4Symmetric:
                    for (int j = 0; j < g / 2; j++)
                    {
                        acc += ((w[2 + j] & 0x0F) - 8) * (sbyte)a[8 + j];
                        acc += ((w[2 + j] >> 4) - 8) * (sbyte)a[8 + g / 2 + j];
                    }
                    sum += dw * dx * acc;
                    break;
                default:
                    for (int j = 0; j < g / 2; j++)
                    {
                        acc += (w[4 + j] & 0x0F) * (sbyte)a[8 + j];
                        acc += (w[4 + j] >> 4) * (sbyte)a[8 + g / 2 + j];
                    }
                    float sx = BinaryPrimitives.ReadSingleLittleEndian(a[4..]);
                    sum += dw * dx * acc + ReadHalf(w, 2) * sx;
                    break;
            }
        }
        return sum;
    }

    private static ElementTypeInfo Require(ElementType type)
    {
        var info = type.Info();
        if (!info.IsQuantized) throw new ArgumentException($"{info.Name} is not a quantized type");
        return info;
    }

    private static float ReadHalf(ReadOnlySpan<byte> b, int offset) => (float)BinaryPrimitives.ReadHalfLittleEndian(b[offset..]);

    private static void WriteHalf(Span<byte> b, int offset, float v) => BinaryPrimitives.WriteHalfLittleEndian(b[offset..], (Half)v);

    // ggml quantize_row_q8_0_ref: d = amax/127, q = round(x/d) half away from zero.
    private static void QuantizeInt8(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0;
        foreach (var v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        WriteHalf(block, 0, d);
        for (int j = 0; j < x.Length; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    // ggml quantize_row_q4_0_ref: d = (signed value of largest magnitude) / -8, q = min(15, trunc(x/d + 8.5)).
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

    // ggml quantize_row_q4_1_ref: d = (max - min)/15, m = min, q = min(15, trunc((x - min)/d + 0.5)).
    private static void QuantizeInt4Asym(ReadOnlySpan<float> x, Span<byte> block)
    {
        float min = float.MaxValue, max = float.MinValue;
        foreach (var v in x)
        {
            min = MathF.Min(min, v);
            max = MathF.Max(max, v);
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
