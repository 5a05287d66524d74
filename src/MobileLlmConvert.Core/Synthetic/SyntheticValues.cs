using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;

namespace MobileLlmConvert.Core.Synthetic;

/// <summary>
/// Which values a synthetic tensor holds: draws [<see cref="First"/>, ...) of the model's one random
/// stream (<see cref="SplitMix64.NextGaussian"/> after <c>new SplitMix64(Seed)</c>), each scaled by
/// <see cref="Std"/>, plus one for a norm weight.
/// </summary>
internal readonly record struct SyntheticDraws(ulong Seed, ulong First, float Std, bool Norm)
{
    /// <summary>The same tensor's draws from value <paramref name="values"/> on.</summary>
    public SyntheticDraws Skip(long values) => this with { First = unchecked(First + (ulong)values) };

    /// <summary>The serial definition of one value: the reference every vector path is held to.</summary>
    public float Value(ref SplitMix64 rng) => Norm ? 1f + Std * rng.NextGaussian() : Std * rng.NextGaussian();
}

/// <summary>
/// Writes synthetic values straight as f32, f16 or bf16 bytes, 16 (or 8) at a time. SplitMix64's
/// state after k calls is seed + k * gamma, so each lane evaluates its own value's four calls from a
/// counter, with 64-bit vector multiplies; the uniform, sum, scale and narrowing are the scalar
/// code's float operations in the same order, so the bytes equal the serial stream's, on every path.
/// </summary>
internal static class SyntheticValues
{
    /// <summary>The code path: the widest the machine runs, or a narrower one a test asks for.</summary>
    public enum Width
    {
        /// <summary>One value at a time (<see cref="SyntheticDraws.Value"/>).</summary>
        Scalar,
        /// <summary>Eight values per step (Vector256).</summary>
        Vector256,
        /// <summary>Sixteen values per step (Vector512).</summary>
        Vector512,
    }

    /// <summary>The widest path this machine accelerates.</summary>
    public static Width Best { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Width.Vector512 : Vector256.IsHardwareAccelerated ? Width.Vector256 : Width.Scalar;

    private const ulong Gamma = 0x9E3779B97F4A7C15UL;
    private const ulong Mix1 = 0xBF58476D1CE4E5B9UL;
    private const ulong Mix2 = 0x94D049BB133111EBUL;
    private const float UniformScale = 1.0f / (1 << 24);
    /// <summary>Matches <see cref="SplitMix64.NextGaussian"/>'s rescaling of the sum of four uniforms.</summary>
    private const float GaussianScale = 1.7320508f;

    /// <summary>Fills <paramref name="dst"/> (a whole number of values of <paramref name="type"/>) with values of <paramref name="draws"/>.</summary>
    public static void Fill(Span<byte> dst, ElementType type, SyntheticDraws draws) => Fill(dst, type, draws, Best);

    /// <summary>As <see cref="Fill(Span{byte}, ElementType, SyntheticDraws)"/> on the given path (tests hold every path to the scalar one).</summary>
    public static void Fill(Span<byte> dst, ElementType type, SyntheticDraws draws, Width width)
    {
        int size = ValueBytes(type);
        if (dst.Length % size != 0) throw new ArgumentException($"{dst.Length} bytes is not a whole number of {type} values", nameof(dst));
        int count = dst.Length / size;
        int done = width switch
        {
            Width.Vector512 when Best == Width.Vector512 => Fill512(dst, count, type, draws),
            Width.Vector512 or Width.Vector256 when Vector256.IsHardwareAccelerated => Fill256(dst, count, type, draws),
            _ => 0,
        };
        var rng = SplitMix64.At(draws.Seed, unchecked((draws.First + (ulong)done) * SplitMix64.CallsPerGaussian));
        for (int i = done; i < count; i++) Store(dst, i, type, draws.Value(ref rng));
    }

    /// <summary>Bytes per value of a float element type.</summary>
    public static int ValueBytes(ElementType type) => type switch
    {
        ElementType.F32 => 4,
        ElementType.F16 or ElementType.BF16 => 2,
        _ => throw new ArgumentException($"{type} is not a float type", nameof(type)),
    };

    private static void Store(Span<byte> dst, int i, ElementType type, float v)
    {
        switch (type)
        {
            case ElementType.F32: MemoryMarshal.Cast<byte, float>(dst)[i] = v; break;
            case ElementType.F16: MemoryMarshal.Cast<byte, Half>(dst)[i] = (Half)v; break;
            default: MemoryMarshal.Cast<byte, ushort>(dst)[i] = FloatConvert.SingleToBF16(v); break;
        }
    }

    private static int Fill512(Span<byte> dst, int count, ElementType type, SyntheticDraws d)
    {
        ref byte output = ref MemoryMarshal.GetReference(dst);
        // Lane l of `a` holds the state before value (first + i + l)'s four calls, `b` that of value
        // (first + i + 8 + l): seed + 4 * gamma * value. Call c of a value is that plus c * gamma.
        var step = Vector512.Create(unchecked(4 * Gamma));
        var a = Vector512.Create(d.Seed) + (Vector512.Create(d.First) + Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7)) * step;
        var b = a + Vector512.Create(unchecked(32 * Gamma));
        var advance = Vector512.Create(unchecked(64 * Gamma));
        var std = Vector512.Create(d.Std);
        int i = 0;
        for (; i + 16 <= count; i += 16)
        {
            var s = Uniform(a, b, 1) + Uniform(a, b, 2);
            s += Uniform(a, b, 3);
            s += Uniform(a, b, 4);
            var v = std * ((s - Vector512.Create(2f)) * Vector512.Create(GaussianScale));
            if (d.Norm) v = Vector512<float>.One + v;
            switch (type)
            {
                case ElementType.F32:
                    v.StoreUnsafe(ref Unsafe.As<byte, float>(ref output), (nuint)i);
                    break;
                case ElementType.F16:
                    Avx512F.ConvertToVector256UInt16(NarrowVectors.ToHalfBits(v)).StoreUnsafe(ref Unsafe.As<byte, ushort>(ref output), (nuint)i);
                    break;
                default:
                    Avx512F.ConvertToVector256UInt16(NarrowVectors.ToBFloat16Bits(v)).StoreUnsafe(ref Unsafe.As<byte, ushort>(ref output), (nuint)i);
                    break;
            }
            a += advance;
            b += advance;
        }
        return i;
    }

    /// <summary>Call <paramref name="call"/> (1-4) of the sixteen values as uniforms in [0, 1) (<see cref="SplitMix64.NextSingle"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Uniform(Vector512<ulong> a, Vector512<ulong> b, ulong call)
    {
        var c = Vector512.Create(unchecked(call * Gamma));
        var top = Vector512.Narrow(Top24(a + c), Top24(b + c));
        return Vector512.ConvertToSingle(top.AsInt32()) * Vector512.Create(UniformScale);
    }

    /// <summary>
    /// SplitMix64's output >> 40 for the state <paramref name="z"/>. Its last step, z ^ (z >> 31),
    /// changes no bit at or above bit 33, so the top 24 bits are those of the second multiply.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Top24(Vector512<ulong> z)
    {
        z = (z ^ (z >> 30)) * Vector512.Create(Mix1);
        z = (z ^ (z >> 27)) * Vector512.Create(Mix2);
        return z >> 40;
    }

    private static int Fill256(Span<byte> dst, int count, ElementType type, SyntheticDraws d)
    {
        ref byte output = ref MemoryMarshal.GetReference(dst);
        var step = Vector256.Create(unchecked(4 * Gamma));
        var a = Vector256.Create(d.Seed) + (Vector256.Create(d.First) + Vector256.Create(0UL, 1, 2, 3)) * step;
        var b = a + Vector256.Create(unchecked(16 * Gamma));
        var advance = Vector256.Create(unchecked(32 * Gamma));
        var std = Vector256.Create(d.Std);
        int i = 0;
        for (; i + 8 <= count; i += 8)
        {
            var s = Uniform(a, b, 1) + Uniform(a, b, 2);
            s += Uniform(a, b, 3);
            s += Uniform(a, b, 4);
            var v = std * ((s - Vector256.Create(2f)) * Vector256.Create(GaussianScale));
            if (d.Norm) v = Vector256<float>.One + v;
            switch (type)
            {
                case ElementType.F32:
                    v.StoreUnsafe(ref Unsafe.As<byte, float>(ref output), (nuint)i);
                    break;
                case ElementType.F16:
                    Narrow(NarrowVectors.ToHalfBits(v)).StoreUnsafe(ref Unsafe.As<byte, ushort>(ref output), (nuint)i);
                    break;
                default:
                    Narrow(NarrowVectors.ToBFloat16Bits(v)).StoreUnsafe(ref Unsafe.As<byte, ushort>(ref output), (nuint)i);
                    break;
            }
            a += advance;
            b += advance;
        }
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Uniform(Vector256<ulong> a, Vector256<ulong> b, ulong call)
    {
        var c = Vector256.Create(unchecked(call * Gamma));
        var top = Vector256.Narrow(Top24(a + c), Top24(b + c));
        return Vector256.ConvertToSingle(top.AsInt32()) * Vector256.Create(UniformScale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Top24(Vector256<ulong> z)
    {
        z = (z ^ (z >> 30)) * Vector256.Create(Mix1);
        z = (z ^ (z >> 27)) * Vector256.Create(Mix2);
        return z >> 40;
    }

    /// <summary>The low 16 bits of each lane (values below 2^16, so no saturation question arises).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ushort> Narrow(Vector256<uint> bits) => Vector128.Narrow(bits.GetLower(), bits.GetUpper());
}
