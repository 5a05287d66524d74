using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// The fast path for a batch of tokens (prefill). Whole panels of eight rows go to the panel kernel
/// (QuantPanelAvx2.cs); the rows left over, and 8-bit rows without VNNI, come here: each weight row is
/// loaded and its nibbles unpacked once per four tokens, and the four integer dot products run side by side.
/// The integer block sums are the same as <see cref="DotFast"/>'s; the f32 sum over blocks runs in one
/// accumulator per token instead of two, so results agree with it up to f32 summation order.
/// </summary>
internal static unsafe partial class QuantKernelsAvx2
{
    /// <summary>y[s·yStride + r] for r &lt; rowCount, s &lt; batch; callers have checked every range.</summary>
    public static void DotFastTile(ElementTypeInfo info, byte* w, nint rowBytes, int rowCount, byte* xq, nint xqStride, int batch, int blocks, float* y, nint yStride)
    {
        switch (info.Kind)
        {
            case QuantKind.Int8Symmetric when !AvxVnni.IsSupported: TileCore<Int8Block>(info, w, rowBytes, rowCount, xq, xqStride, batch, blocks, y, yStride); break;
            case QuantKind.Int8Symmetric: PanelTile<Int8Block>(info, w, rowBytes, rowCount, xq, xqStride, batch, blocks, y, yStride); break;
            case QuantKind.Int4Symmetric: PanelTile<Int4Block>(info, w, rowBytes, rowCount, xq, xqStride, batch, blocks, y, yStride); break;
            case QuantKind.Int4Asymmetric: PanelTile<Int4AsymBlock>(info, w, rowBytes, rowCount, xq, xqStride, batch, blocks, y, yStride); break;
            default: throw Unsupported(info);
        }
    }

    /// <summary>Whole panels of eight rows through <see cref="PanelRowsFast{TBlock}"/>, the rest through <see cref="TileCore{TBlock}"/>.</summary>
    private static void PanelTile<TBlock>(ElementTypeInfo info, byte* w, nint rowBytes, int rowCount, byte* xq, nint xqStride, int batch, int blocks, float* y, nint yStride)
        where TBlock : struct, IBlockDot
    {
        int done = PanelRowsFast<TBlock>(info, w, rowBytes, rowCount, xq, xqStride, batch, blocks, y, yStride);
        if (done < rowCount) TileCore<TBlock>(info, w + done * rowBytes, rowBytes, rowCount - done, xq, xqStride, batch, blocks, y + done, yStride);
    }

    private static void TileCore<TBlock>(ElementTypeInfo info, byte* w, nint rowBytes, int rowCount, byte* xq, nint xqStride, int batch, int blocks, float* y, nint yStride)
        where TBlock : struct, IBlockDot
    {
        for (int r = 0; r < rowCount; r++, w += rowBytes)
        {
            int s = 0;
            for (; s + 4 <= batch; s += 4) Tile4<TBlock>(info, w, xq + s * xqStride, xqStride, blocks, y + s * yStride + r, yStride);
            for (; s < batch; s++) y[s * yStride + r] = DotFastCore<TBlock>(info, w, xq + s * xqStride, blocks);
        }
    }

    private static void Tile4<TBlock>(ElementTypeInfo info, byte* w, byte* xq, nint xqStride, int blocks, float* y, nint yStride)
        where TBlock : struct, IBlockDot
    {
        float* ht = QuantOps.HalfTable;
        int g = info.BlockValues, bb = info.BlockBytes;
        var layout = new ActivationLayout(g, blocks);
        sbyte* a = (sbyte*)xq;
        float* scales = (float*)(xq + layout.ScalesOffset);
        int* sums = (int*)(xq + layout.SumsOffset);
        nint fs = xqStride / 4; // token stride in floats and ints: the public entry point requires a multiple of 4
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var acc2 = Vector256<float>.Zero;
        var acc3 = Vector256<float>.Zero;
        float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        for (int b = 0; b < blocks; b++, w += bb, a += g)
        {
            var i0 = Vector256<int>.Zero;
            var i1 = Vector256<int>.Zero;
            var i2 = Vector256<int>.Zero;
            var i3 = Vector256<int>.Zero;
            TBlock.Dot4(w, a, xqStride, g, ref i0, ref i1, ref i2, ref i3);
            if (TBlock.Offset != 0)
            {
                i0 = Avx2.Subtract(i0, Vector256.CreateScalar(sums[b] * TBlock.Offset));
                i1 = Avx2.Subtract(i1, Vector256.CreateScalar(sums[b + fs] * TBlock.Offset));
                i2 = Avx2.Subtract(i2, Vector256.CreateScalar(sums[b + 2 * fs] * TBlock.Offset));
                i3 = Avx2.Subtract(i3, Vector256.CreateScalar(sums[b + 3 * fs] * TBlock.Offset));
            }
            float dw = QuantOps.Half(ht, w);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), Vector256.Create(dw * scales[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), Vector256.Create(dw * scales[b + fs]), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), Vector256.Create(dw * scales[b + 2 * fs]), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), Vector256.Create(dw * scales[b + 3 * fs]), acc3);
            if (TBlock.HasMin)
            {
                float m = QuantOps.Half(ht, w + 2);
                m0 += m * (scales[b] * sums[b]);
                m1 += m * (scales[b + fs] * sums[b + fs]);
                m2 += m * (scales[b + 2 * fs] * sums[b + 2 * fs]);
                m3 += m * (scales[b + 3 * fs] * sums[b + 3 * fs]);
            }
        }
        y[0] = Vector256.Sum(acc0) + m0;
        y[yStride] = Vector256.Sum(acc1) + m1;
        y[2 * yStride] = Vector256.Sum(acc2) + m2;
        y[3 * yStride] = Vector256.Sum(acc3) + m3;
    }

    /// <summary>Σ q·a of one 4-bit block against four tokens: the nibbles are unpacked once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Nibbles4Dot4(byte* qs, sbyte* a, nint stride, int g, ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3)
    {
        if (g == 32)
        {
            var v = Sse2.LoadVector128(qs);
            var lo = Sse2.And(v, Vector128.Create((byte)0x0F));
            var hi = Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), Vector128.Create((byte)0x0F));
            var u = Vector256.Create(lo, hi);
            i0 = DotU8S8(i0, u, Avx.LoadVector256(a));
            i1 = DotU8S8(i1, u, Avx.LoadVector256(a + stride));
            i2 = DotU8S8(i2, u, Avx.LoadVector256(a + 2 * stride));
            i3 = DotU8S8(i3, u, Avx.LoadVector256(a + 3 * stride));
            return;
        }
        var lowNibble = Vector256.Create((byte)0x0F);
        for (int c = 0; c < g / 2; c += 32)
        {
            var v = Avx.LoadVector256(qs + c);
            var ul = Avx2.And(v, lowNibble);
            var uh = Avx2.And(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), lowNibble);
            sbyte* p = a + c;
            i0 = DotU8S8(DotU8S8(i0, ul, Avx.LoadVector256(p)), uh, Avx.LoadVector256(p + g / 2));
            i1 = DotU8S8(DotU8S8(i1, ul, Avx.LoadVector256(p + stride)), uh, Avx.LoadVector256(p + stride + g / 2));
            i2 = DotU8S8(DotU8S8(i2, ul, Avx.LoadVector256(p + 2 * stride)), uh, Avx.LoadVector256(p + 2 * stride + g / 2));
            i3 = DotU8S8(DotU8S8(i3, ul, Avx.LoadVector256(p + 3 * stride)), uh, Avx.LoadVector256(p + 3 * stride + g / 2));
        }
    }
}
