using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MobileLlmConvert.Core.Numerics;

/// <summary>
/// IEEE binary16 -> binary32 in vector registers, for kernels that read f16 weights. .NET 10 exposes
/// no F16C / AVX-512 vcvtph2ps intrinsic (System.Runtime.Intrinsics.X86 has none), so this is the bit
/// construction: the exponent and mantissa moved to f32 positions and rescaled by 2^112 (which also
/// normalises subnormals exactly), exponent 31 (infinity, NaN) mapped to f32's all-ones exponent, the
/// sign put back. Every finite value and infinity convert exactly as <c>(float)Half</c>; a NaN stays a
/// NaN (its payload may differ, which no dot product can show).
/// </summary>
internal static class HalfVectors
{
    private const uint ExponentMask = 0x7C00;
    private const uint MagnitudeMask = 0x7FFF;
    private const uint SignMask = 0x8000;
    private const uint SingleExponent = 0x7F800000;
    /// <summary>2^112 = 2^(127 − 15): the f32 bias minus the f16 bias.</summary>
    private static float Rebias => BitConverter.UInt32BitsToSingle(0x77800000);

    /// <summary>Eight f16 bit patterns (the low 16 bits of each lane) as f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        var bits = (h & Vector256.Create(MagnitudeMask)) << 13;
        var scaled = bits.AsSingle() * Vector256.Create(Rebias);
        var special = Vector256.Equals(h & Vector256.Create(ExponentMask), Vector256.Create(ExponentMask));
        var value = Vector256.ConditionalSelect(special, bits | Vector256.Create(SingleExponent), scaled.AsUInt32());
        return (value | ((h & Vector256.Create(SignMask)) << 16)).AsSingle();
    }
}
