using System.Buffers.Binary;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// The scalar reference for every quantized row of the element-type table: argument checks, then the
/// row's block struct (<see cref="QuantKernel{TBlock}"/>), one value at a time in the order of the
/// formulas. <see cref="QuantOps"/> is the fast version and tests keep the two in agreement.
/// <see cref="Quantize(ElementType, ReadOnlySpan{float}, Span{byte})"/> is ggml's reference rounding
/// (quantize_row_*_ref in ggml/src/ggml-quants.c); the overload with a <see cref="QuantRounding"/> also
/// offers the scale search.
/// </summary>
public static class QuantOpsNaive
{
    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst) => Quantize(type, src, dst, QuantRounding.Rtn);

    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, src.Length);
        QuantChecks.Bytes(info, dst.Length, blocks, nameof(dst));
        info.Kernel!.Quantize(src, dst[..(blocks * info.BlockBytes)], rounding);
    }

    /// <summary>
    /// Quantizes one weight row; a non-empty <paramref name="importance"/> (one value per column, the
    /// row's length) weights the search (<see cref="QuantKernel.Quantize(ReadOnlySpan{float}, Span{byte}, QuantRounding, ReadOnlySpan{float})"/>).
    /// </summary>
    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding, ReadOnlySpan<float> importance)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, src.Length);
        QuantChecks.Bytes(info, dst.Length, blocks, nameof(dst));
        if (!importance.IsEmpty && importance.Length != src.Length)
            throw new ArgumentException($"importance has {importance.Length} values for a row of {src.Length}", nameof(importance));
        info.Kernel!.Quantize(src, dst[..(blocks * info.BlockBytes)], rounding, importance);
    }

    public static void Dequantize(ElementType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, dst.Length);
        QuantChecks.Bytes(info, src.Length, blocks, nameof(src));
        info.Kernel!.Dequantize(src[..(blocks * info.BlockBytes)], dst);
    }

    /// <summary>Exact path: f32 activations times weights dequantized block by block.</summary>
    public static float DotExact(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, x.Length);
        QuantChecks.Bytes(info, row.Length, blocks, nameof(row));
        return info.Kernel!.DotExact(row[..(blocks * info.BlockBytes)], x);
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
    /// quants, then scaled by the block scales (each block struct's Dot).
    /// </summary>
    public static float DotFast(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> xq)
    {
        var info = QuantChecks.Require(type);
        var layout = ActivationLayout.FromBytes(info, xq.Length);
        QuantChecks.Bytes(info, row.Length, layout.Blocks, nameof(row));
        return info.Kernel!.DotFast(row[..(layout.Blocks * info.BlockBytes)], xq, layout);
    }
}
