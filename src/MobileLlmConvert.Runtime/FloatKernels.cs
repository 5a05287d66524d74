using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Dot products of f32 weight rows with a batch of activation rows. One row by one token is a
/// TensorPrimitives.Dot, which loads two vectors per multiply-add; with a batch (prefill) a 4x4 block
/// of rows and tokens shares its loads (8 loads for 16 multiply-adds), which is what makes batched
/// prefill faster than feeding tokens one at a time. Where 512-bit vectors are not accelerated
/// (AVX2, ARM64 NEON on phones) a 4 rows x 2 tokens block of <see cref="Vector{T}"/> does the same
/// within 16 registers. The naive reference path is the plain Dot loop.
/// <para>
/// Float rows times one token (decode) are converted in registers inside the dot product, four rows
/// per pass (FloatRowKernels.cs: <see cref="DotF16Rows"/>, <see cref="DotBF16Rows"/>,
/// <see cref="DotF32Rows"/>), so each weight byte is read once and never written back as f32 (the tile
/// conversion below reads 2 bytes and writes and re-reads 4 per weight).
/// </para>
/// </summary>
internal static unsafe partial class FloatKernels
{
    private const int Block = 4;

    /// <summary>
    /// y[s·yStride + t] = scale·dot(w[t·cols ..], x[s·xStride ..]) for t &lt; rows, s &lt; batch
    /// (<paramref name="scale"/>: 2^112 for a tile from <see cref="WidenF16Scaled"/>, else 1).
    /// </summary>
    public static void Multiply(float* w, int rows, int cols, float* x, int xStride, int batch, float* y, int yStride, float scale = 1f)
    {
        int s = 0;
        if (rows == Block && Vector512.IsHardwareAccelerated && Avx512F.IsSupported && cols % Vector512<float>.Count == 0)
        {
            for (; s + Block <= batch; s += Block) Block4x4(w, cols, x + (long)s * xStride, xStride, y + (long)s * yStride, yStride, scale);
        }
        else if (rows == Block && Vector.IsHardwareAccelerated && cols % Vector<float>.Count == 0)
        {
            for (; s + 2 <= batch; s += 2) Block4x2(w, cols, x + (long)s * xStride, xStride, y + (long)s * yStride, yStride, scale);
        }
        Remainder(w, rows, cols, x, xStride, s, batch, y, yStride, scale);
    }

    /// <summary>Tokens [s, batch) one dot product at a time.</summary>
    private static void Remainder(float* w, int rows, int cols, float* x, int xStride, int s, int batch, float* y, int yStride, float scale)
    {
        for (; s < batch; s++)
        {
            var xs = new ReadOnlySpan<float>(x + (long)s * xStride, cols);
            float* ys = y + (long)s * yStride;
            for (int t = 0; t < rows; t++) ys[t] = TensorPrimitives.Dot(new ReadOnlySpan<float>(w + (long)t * cols, cols), xs) * scale;
        }
    }

    /// <summary>4 rows x 2 tokens with the platform's vector width (exposed for tests on wider machines).</summary>
    internal static void Block4x2(float* w, int cols, float* x, int xStride, float* y, int yStride, float scale = 1f)
    {
        var a00 = Vector<float>.Zero; var a01 = a00; var a02 = a00; var a03 = a00;
        var a10 = a00; var a11 = a00; var a12 = a00; var a13 = a00;
        float* w0 = w, w1 = w + cols, w2 = w + 2 * cols, w3 = w + 3 * cols;
        float* x1 = x + xStride;
        for (int k = 0; k < cols; k += Vector<float>.Count)
        {
            var v0 = Vector.Load(w0 + k); var v1 = Vector.Load(w1 + k);
            var v2 = Vector.Load(w2 + k); var v3 = Vector.Load(w3 + k);
            var u = Vector.Load(x + k);
            a00 = Vector.FusedMultiplyAdd(v0, u, a00); a01 = Vector.FusedMultiplyAdd(v1, u, a01);
            a02 = Vector.FusedMultiplyAdd(v2, u, a02); a03 = Vector.FusedMultiplyAdd(v3, u, a03);
            u = Vector.Load(x1 + k);
            a10 = Vector.FusedMultiplyAdd(v0, u, a10); a11 = Vector.FusedMultiplyAdd(v1, u, a11);
            a12 = Vector.FusedMultiplyAdd(v2, u, a12); a13 = Vector.FusedMultiplyAdd(v3, u, a13);
        }
        float* y1 = y + yStride;
        y[0] = Vector.Sum(a00) * scale; y[1] = Vector.Sum(a01) * scale; y[2] = Vector.Sum(a02) * scale; y[3] = Vector.Sum(a03) * scale;
        y1[0] = Vector.Sum(a10) * scale; y1[1] = Vector.Sum(a11) * scale; y1[2] = Vector.Sum(a12) * scale; y1[3] = Vector.Sum(a13) * scale;
    }

    private static void Block4x4(float* w, int cols, float* x, int xStride, float* y, int yStride, float scale)
    {
        var a00 = Vector512<float>.Zero; var a01 = a00; var a02 = a00; var a03 = a00;
        var a10 = a00; var a11 = a00; var a12 = a00; var a13 = a00;
        var a20 = a00; var a21 = a00; var a22 = a00; var a23 = a00;
        var a30 = a00; var a31 = a00; var a32 = a00; var a33 = a00;
        float* w0 = w, w1 = w + cols, w2 = w + 2 * cols, w3 = w + 3 * cols;
        float* x0 = x, x1 = x + xStride, x2 = x + 2 * xStride, x3 = x + 3 * xStride;
        for (int k = 0; k < cols; k += Vector512<float>.Count)
        {
            var v0 = Vector512.Load(w0 + k); var v1 = Vector512.Load(w1 + k);
            var v2 = Vector512.Load(w2 + k); var v3 = Vector512.Load(w3 + k);
            var u = Vector512.Load(x0 + k);
            a00 = Vector512.FusedMultiplyAdd(v0, u, a00); a01 = Vector512.FusedMultiplyAdd(v1, u, a01);
            a02 = Vector512.FusedMultiplyAdd(v2, u, a02); a03 = Vector512.FusedMultiplyAdd(v3, u, a03);
            u = Vector512.Load(x1 + k);
            a10 = Vector512.FusedMultiplyAdd(v0, u, a10); a11 = Vector512.FusedMultiplyAdd(v1, u, a11);
            a12 = Vector512.FusedMultiplyAdd(v2, u, a12); a13 = Vector512.FusedMultiplyAdd(v3, u, a13);
            u = Vector512.Load(x2 + k);
            a20 = Vector512.FusedMultiplyAdd(v0, u, a20); a21 = Vector512.FusedMultiplyAdd(v1, u, a21);
            a22 = Vector512.FusedMultiplyAdd(v2, u, a22); a23 = Vector512.FusedMultiplyAdd(v3, u, a23);
            u = Vector512.Load(x3 + k);
            a30 = Vector512.FusedMultiplyAdd(v0, u, a30); a31 = Vector512.FusedMultiplyAdd(v1, u, a31);
            a32 = Vector512.FusedMultiplyAdd(v2, u, a32); a33 = Vector512.FusedMultiplyAdd(v3, u, a33);
        }
        // out lane s = [Σa_s0, Σa_s1, Σa_s2, Σa_s3]: token s's four rows, stored as one 128-bit lane.
        var sums = Transpose4(Reduce4(a00, a10, a20, a30), Reduce4(a01, a11, a21, a31),
            Reduce4(a02, a12, a22, a32), Reduce4(a03, a13, a23, a33)) * scale;
        sums.GetLower().GetLower().Store(y);
        sums.GetLower().GetUpper().Store(y + yStride);
        sums.GetUpper().GetLower().Store(y + 2 * yStride);
        sums.GetUpper().GetUpper().Store(y + 3 * yStride);
    }

    /// <summary>
    /// Four accumulators to one register: 128-bit lane i holds four partial sums of input i (the four
    /// 128-bit lanes of input i added). Four shuffles and three adds against about 20 instructions per
    /// <see cref="Vector512.Sum{T}(Vector512{T})"/>, which sums each 128-bit quarter separately.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Reduce4(Vector512<float> p, Vector512<float> q, Vector512<float> r, Vector512<float> u)
    {
        // vshuff32x4: lanes 0-1 from the first operand, 2-3 from the second, two bits per lane.
        var pq = Avx512F.Shuffle4x128(p, q, 0x44) + Avx512F.Shuffle4x128(p, q, 0xEE); // p0+p2, p1+p3, q0+q2, q1+q3
        var ru = Avx512F.Shuffle4x128(r, u, 0x44) + Avx512F.Shuffle4x128(r, u, 0xEE);
        return Avx512F.Shuffle4x128(pq, ru, 0x88) + Avx512F.Shuffle4x128(pq, ru, 0xDD);
    }

    /// <summary>
    /// Within each 128-bit lane s: [Σ w0[s], Σ w1[s], Σ w2[s], Σ w3[s]] (a 4x4 transpose-add of the lanes'
    /// four partial sums; unpack and shufps stay inside 128-bit lanes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Transpose4(Vector512<float> w0, Vector512<float> w1, Vector512<float> w2, Vector512<float> w3)
    {
        var t0 = Avx512F.UnpackLow(w0, w1) + Avx512F.UnpackHigh(w0, w1); // w0(e0+e2), w1(e0+e2), w0(e1+e3), w1(e1+e3)
        var t1 = Avx512F.UnpackLow(w2, w3) + Avx512F.UnpackHigh(w2, w3);
        return Avx512F.Shuffle(t0, t1, 0x44) + Avx512F.Shuffle(t0, t1, 0xEE);
    }

    /// <summary>[Σp, Σq, Σr, Σu] of four 512-bit accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Sum4(Vector512<float> p, Vector512<float> q, Vector512<float> r, Vector512<float> u)
    {
        var w = Reduce4(p, q, r, u);
        return Sum4(w.GetLower().GetLower(), w.GetLower().GetUpper(), w.GetUpper().GetLower(), w.GetUpper().GetUpper());
    }

    /// <summary>[Σp, Σq, Σr, Σu] of four 256-bit accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Sum4(Vector256<float> p, Vector256<float> q, Vector256<float> r, Vector256<float> u) =>
        Sum4(p.GetLower() + p.GetUpper(), q.GetLower() + q.GetUpper(), r.GetLower() + r.GetUpper(), u.GetLower() + u.GetUpper());

    /// <summary>[Σp, Σq, Σr, Σu] of four 128-bit vectors (haddps twice).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Sum4(Vector128<float> p, Vector128<float> q, Vector128<float> r, Vector128<float> u) =>
        Sse3.HorizontalAdd(Sse3.HorizontalAdd(p, q), Sse3.HorizontalAdd(r, u));
}
