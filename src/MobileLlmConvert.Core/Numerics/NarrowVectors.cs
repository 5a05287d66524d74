using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MobileLlmConvert.Core.Numerics;

/// <summary>
/// f32 -> f16 and f32 -> bf16 bit patterns in vector registers (each result in the low 16 bits of
/// its 32-bit lane), for code that produces floats in registers and stores halves. .NET 10 has no
/// F16C / AVX-512 vcvtps2ph intrinsic, so both are integer and float arithmetic. For every finite
/// value and infinity the results are exactly <c>(Half)x</c> and <see cref="FloatConvert.SingleToBF16"/>
/// (round to nearest, ties to even); NaN is not handled (callers produce finite values).
/// </summary>
internal static class NarrowVectors
{
    /// <summary>2^112: moves the f16 overflow threshold onto f32's (fp16.h's scale_to_inf).</summary>
    private static float ScaleToInf => BitConverter.UInt32BitsToSingle(0x77800000);
    /// <summary>2^-110: brings the value back (fp16.h's scale_to_zero).</summary>
    private static float ScaleToZero => BitConverter.UInt32BitsToSingle(0x08800000);

    /// <summary>
    /// f16 bits of each lane, round to nearest even, subnormals and overflow to infinity included.
    /// The method of Maratyszcza's FP16 library (include/fp16/fp16.h, fp16_ieee_from_fp32_value; ggml
    /// uses it too, ggml-impl.h): adding a power of two whose exponent is the value's own plus 13
    /// (at least 2^-14 + 13, for subnormals) makes the f32 adder round away exactly the mantissa bits
    /// f16 has no room for, with the hardware's ties-to-even; the f16 exponent and mantissa are then
    /// the low bits of the sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> ToHalfBits(Vector512<float> f)
    {
        var scaled = Vector512.Abs(f) * Vector512.Create(ScaleToInf) * Vector512.Create(ScaleToZero);
        var w = f.AsUInt32();
        var shl1 = w + w;
        var bias = Vector512.Max(shl1 & Vector512.Create(0xFF000000u), Vector512.Create(0x71000000u));
        var sum = ((bias >> 1) + Vector512.Create(0x07800000u)).AsSingle() + scaled;
        var bits = sum.AsUInt32();
        var magnitude = ((bits >> 13) & Vector512.Create(0x7C00u)) + (bits & Vector512.Create(0x0FFFu));
        return ((w & Vector512.Create(0x80000000u)) >> 16) | magnitude;
    }

    /// <inheritdoc cref="ToHalfBits(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> ToHalfBits(Vector256<float> f)
    {
        var scaled = Vector256.Abs(f) * Vector256.Create(ScaleToInf) * Vector256.Create(ScaleToZero);
        var w = f.AsUInt32();
        var shl1 = w + w;
        var bias = Vector256.Max(shl1 & Vector256.Create(0xFF000000u), Vector256.Create(0x71000000u));
        var sum = ((bias >> 1) + Vector256.Create(0x07800000u)).AsSingle() + scaled;
        var bits = sum.AsUInt32();
        var magnitude = ((bits >> 13) & Vector256.Create(0x7C00u)) + (bits & Vector256.Create(0x0FFFu));
        return ((w & Vector256.Create(0x80000000u)) >> 16) | magnitude;
    }

    /// <summary>
    /// bf16 bits of each lane: the top half of the f32, rounded to nearest even by adding 0x7FFF plus
    /// the lowest kept bit (torch's round_to_nearest_even, c10/util/BFloat16.h).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> ToBFloat16Bits(Vector512<float> f)
    {
        var bits = f.AsUInt32();
        return (bits + Vector512.Create(0x7FFFu) + ((bits >> 16) & Vector512<uint>.One)) >> 16;
    }

    /// <inheritdoc cref="ToBFloat16Bits(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> ToBFloat16Bits(Vector256<float> f)
    {
        var bits = f.AsUInt32();
        return (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
    }
}
