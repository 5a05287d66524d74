using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Numerics;

/// <summary>
/// Conversions between the float element types and f32. f16 goes through TensorPrimitives (SIMD);
/// bf16 is the top half of an f32, widened with a vector shift, and narrowed with
/// round-to-nearest-even as torch does.
/// </summary>
internal static class FloatConvert
{
    /// <summary>Decodes <c>dst.Length</c> values of a float type from raw little-endian bytes.</summary>
    public static void ToSingle(ReadOnlySpan<byte> src, ElementType type, Span<float> dst)
    {
        switch (type)
        {
            case ElementType.F32:
                MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst);
                break;
            case ElementType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src)[..dst.Length], dst);
                break;
            case ElementType.BF16:
                BF16ToSingle(MemoryMarshal.Cast<byte, ushort>(src)[..dst.Length], dst);
                break;
            default:
                throw new ArgumentException($"{type} is not a float type");
        }
    }

    /// <summary>Encodes f32 values as a float type into raw little-endian bytes.</summary>
    public static void FromSingle(ReadOnlySpan<float> src, ElementType type, Span<byte> dst)
    {
        switch (type)
        {
            case ElementType.F32:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                break;
            case ElementType.F16:
                TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst)[..src.Length]);
                break;
            case ElementType.BF16:
                var o = MemoryMarshal.Cast<byte, ushort>(dst);
                for (int i = 0; i < src.Length; i++) o[i] = SingleToBF16(src[i]);
                break;
            default:
                throw new ArgumentException($"{type} is not a float type");
        }
    }

    public static void BF16ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        var dstBits = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= src.Length; i += 16)
            {
                var v = Vector256.Create(src.Slice(i, 16));
                var (lo, hi) = Vector256.Widen(v);
                (lo << 16).CopyTo(dstBits.Slice(i, 8));
                (hi << 16).CopyTo(dstBits.Slice(i + 8, 8));
            }
        }
        for (; i < src.Length; i++) dstBits[i] = (uint)src[i] << 16;
    }

    public static float BF16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    public static ushort SingleToBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40); // keep NaN a quiet NaN
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Reads a whole float tensor as f32 (tests, small tensors; the executor streams rows instead).</summary>
    public static float[] ToSingleArray(Tensor tensor)
    {
        var result = new float[checked((int)tensor.ElementCount)];
        ToSingle(tensor.Source.Read(), tensor.Type, result);
        return result;
    }
}
