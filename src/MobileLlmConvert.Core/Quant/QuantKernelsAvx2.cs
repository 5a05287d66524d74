using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// AVX2 + FMA kernels behind <see cref="QuantOps"/> (callers have checked spans and
/// <see cref="QuantOps.IsAccelerated"/>). Every group size is a multiple of 32, so the inner loops
/// work in 32-value chunks: one 256-bit register of int8 quants, four of f32. 4-bit chunks: the low
/// nibbles of 32 consecutive bytes are 32 consecutive values and their high nibbles are the 32 values
/// g/2 further on (byte j = value j | value j + g/2 &lt;&lt; 4).
/// </summary>
internal static unsafe partial class QuantKernelsAvx2
{
    /// <summary>The kinds these kernels implement; every entry point throws for any other.</summary>
    public static bool Supports(QuantKind kind) => kind is QuantKind.Int8Symmetric or QuantKind.Int4Symmetric or QuantKind.Int4Asymmetric;

    private static Exception Unsupported(ElementTypeInfo info) => new ArgumentException($"{info.Name}: no AVX2 kernel for kind {info.Kind}");

    public static void Dequantize(ElementTypeInfo info, byte* src, float* y, int blocks)
    {
        float* ht = QuantOps.HalfTable;
        int g = info.BlockValues;
        for (int b = 0; b < blocks; b++, src += info.BlockBytes, y += g)
        {
            var d = Vector256.Create(QuantOps.Half(ht, src));
            switch (info.Kind)
            {
                case QuantKind.Int8Symmetric:
                    for (int j = 0; j < g; j += 8)
                        Avx.Store(y + j, Avx.Multiply(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32((sbyte*)src + 2 + j)), d));
                    break;
                case QuantKind.Int4Symmetric:
                {
                    // ((q & 15) - 8) * d exactly as the reference: int subtraction, then one rounding in the multiply.
                    var eight = Vector256.Create(8);
                    for (int j = 0; j < g / 2; j += 8)
                    {
                        var (lo, hi) = Nibbles8(src + 2 + j);
                        Avx.Store(y + j, Avx.Multiply(Avx.ConvertToVector256Single(Avx2.Subtract(lo, eight)), d));
                        Avx.Store(y + g / 2 + j, Avx.Multiply(Avx.ConvertToVector256Single(Avx2.Subtract(hi, eight)), d));
                    }
                    break;
                }
                case QuantKind.Int4Asymmetric:
                {
                    // q * d + m as two roundings (no FMA), matching the reference bit for bit.
                    var m = Vector256.Create(QuantOps.Half(ht, src + 2));
                    for (int j = 0; j < g / 2; j += 8)
                    {
                        var (lo, hi) = Nibbles8(src + 4 + j);
                        Avx.Store(y + j, Avx.Add(Avx.Multiply(Avx.ConvertToVector256Single(lo), d), m));
                        Avx.Store(y + g / 2 + j, Avx.Add(Avx.Multiply(Avx.ConvertToVector256Single(hi), d), m));
                    }
                    break;
                }
                default:
                    throw Unsupported(info);
            }
        }
    }

    /// <summary>8 bytes of nibbles as two int32 vectors: the 8 low nibbles and the 8 high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<int> Lo, Vector256<int> Hi) Nibbles8(byte* p)
    {
        var v = Avx2.ConvertToVector256Int32(p);
        var mask = Vector256.Create(0x0F);
        return (Avx2.And(v, mask), Avx2.ShiftRightLogical(v, 4));
    }

    public static float DotExact(ElementTypeInfo info, byte* w, float* x, int blocks)
    {
        float* ht = QuantOps.HalfTable;
        int g = info.BlockValues;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++, w += info.BlockBytes, x += g)
        {
            var d = Vector256.Create(QuantOps.Half(ht, w));
            switch (info.Kind)
            {
                case QuantKind.Int8Symmetric:
                {
                    // Σ q·x per block in f32, then one multiply-add by d: same value as Σ (q·d)·x up to rounding.
                    var t0 = Vector256<float>.Zero;
                    var t1 = Vector256<float>.Zero;
                    for (int j = 0; j < g; j += 16)
                    {
                        t0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32((sbyte*)w + 2 + j)), Avx.LoadVector256(x + j), t0);
                        t1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32((sbyte*)w + 2 + j + 8)), Avx.LoadVector256(x + j + 8), t1);
                    }
                    acc0 = Fma.MultiplyAdd(Avx.Add(t0, t1), d, acc0);
                    break;
                }
                case QuantKind.Int4Symmetric:
                {
                    var t0 = Vector256<float>.Zero;
                    var t1 = Vector256<float>.Zero;
                    var eight = Vector256.Create(8);
                    for (int j = 0; j < g / 2; j += 8)
                    {
                        var (lo, hi) = Nibbles8(w + 2 + j);
                        t0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(lo, eight)), Avx.LoadVector256(x + j), t0);
                        t1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(hi, eight)), Avx.LoadVector256(x + g / 2 + j), t1);
                    }
                    acc0 = Fma.MultiplyAdd(Avx.Add(t0, t1), d, acc0);
                    break;
                }
                case QuantKind.Int4Asymmetric:
                {
                    // Σ (q·d + m)·x = d·Σ q·x + m·Σ x.
                    var tq = Vector256<float>.Zero;
                    var tx = Vector256<float>.Zero;
                    for (int j = 0; j < g / 2; j += 8)
                    {
                        var (lo, hi) = Nibbles8(w + 4 + j);
                        var xl = Avx.LoadVector256(x + j);
                        var xh = Avx.LoadVector256(x + g / 2 + j);
                        tq = Fma.MultiplyAdd(Avx.ConvertToVector256Single(lo), xl, tq);
                        tq = Fma.MultiplyAdd(Avx.ConvertToVector256Single(hi), xh, tq);
                        tx = Avx.Add(tx, Avx.Add(xl, xh));
                    }
                    acc0 = Fma.MultiplyAdd(tq, d, acc0);
                    acc1 = Fma.MultiplyAdd(tx, Vector256.Create(QuantOps.Half(ht, w + 2)), acc1);
                    break;
                }
                default:
                    throw Unsupported(info);
            }
        }
        return Vector256.Sum(Avx.Add(acc0, acc1));
    }

    public static void QuantizeActivations(ActivationLayout layout, float* x, byte* xq)
    {
        int g = layout.GroupSize;
        var absMask = Vector256.Create(0x7FFFFFFF).AsSingle();
        // vpackssdw / vpacksswb work within 128-bit lanes; this puts the four 8-value groups back in order.
        var unshuffle = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        float* scales = (float*)(xq + layout.ScalesOffset);
        int* sums = (int*)(xq + layout.SumsOffset);
        for (int b = 0; b < layout.Blocks; b++, x += g)
        {
            var vmax = Vector256<float>.Zero;
            for (int j = 0; j < g; j += 8) vmax = Avx.Max(vmax, Avx.And(Avx.LoadVector256(x + j), absMask));
            float amax = HorizontalMax(vmax);
            var id = Vector256.Create(QuantOpsNaive.ActivationInverseScale(amax));
            var isum = Vector256<int>.Zero;
            sbyte* q = (sbyte*)xq + b * g;
            for (int j = 0; j < g; j += 32)
            {
                // vroundps with round-to-nearest-even, as ggml's quantize_row_q8_0 (x86) does.
                var i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(Avx.LoadVector256(x + j), id)));
                var i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(Avx.LoadVector256(x + j + 8), id)));
                var i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(Avx.LoadVector256(x + j + 16), id)));
                var i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(Avx.LoadVector256(x + j + 24), id)));
                isum = Avx2.Add(Avx2.Add(isum, Avx2.Add(i0, i1)), Avx2.Add(i2, i3));
                var packed = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
                Avx.Store(q + j, Avx2.PermuteVar8x32(packed.AsInt32(), unshuffle).AsSByte());
            }
            scales[b] = QuantOpsNaive.ActivationScale(amax);
            sums[b] = Vector256.Sum(isum);
        }
    }

    private static float HorizontalMax(Vector256<float> v)
    {
        var m = Sse.Max(v.GetLower(), v.GetUpper());
        m = Sse.Max(m, Sse.MoveHighToLow(m, m));
        m = Sse.Max(m, Sse.Shuffle(m, m, 0b01));
        return m.ToScalar();
    }

    public static float DotFast(ElementTypeInfo info, byte* w, byte* xq, int blocks) => info.Kind switch
    {
        QuantKind.Int8Symmetric => DotFastCore<Int8Block>(info, w, xq, blocks),
        QuantKind.Int4Symmetric => DotFastCore<Int4Block>(info, w, xq, blocks),
        QuantKind.Int4Asymmetric => DotFastCore<Int4AsymBlock>(info, w, xq, blocks),
        _ => throw Unsupported(info),
    };

    /// <summary>
    /// Σ over blocks of dw·dx·(integer block sum) [+ m·dx·Σa]. Two blocks per iteration into two
    /// accumulators: with one, every block would wait for the previous block's FMA (4-cycle latency),
    /// which costs more than the block's integer work at g = 32.
    /// </summary>
    private static float DotFastCore<TBlock>(ElementTypeInfo info, byte* w, byte* xq, int blocks) where TBlock : struct, IBlockDot
    {
        float* ht = QuantOps.HalfTable;
        int g = info.BlockValues, bb = info.BlockBytes;
        var layout = new ActivationLayout(g, blocks);
        sbyte* a = (sbyte*)xq;
        float* scales = (float*)(xq + layout.ScalesOffset);
        int* sums = (int*)(xq + layout.SumsOffset);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        float m0 = 0, m1 = 0;
        int b = 0;
        for (; b + 1 < blocks; b += 2, w += 2 * bb, a += 2 * g)
        {
            var i0 = TBlock.Dot(w, a, g, sums[b]);
            var i1 = TBlock.Dot(w + bb, a + g, g, sums[b + 1]);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), Vector256.Create(QuantOps.Half(ht, w) * scales[b]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), Vector256.Create(QuantOps.Half(ht, w + bb) * scales[b + 1]), acc1);
            if (TBlock.HasMin)
            {
                m0 += QuantOps.Half(ht, w + 2) * (scales[b] * sums[b]);
                m1 += QuantOps.Half(ht, w + bb + 2) * (scales[b + 1] * sums[b + 1]);
            }
        }
        if (b < blocks)
        {
            var i0 = TBlock.Dot(w, a, g, sums[b]);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), Vector256.Create(QuantOps.Half(ht, w) * scales[b]), acc0);
            if (TBlock.HasMin) m0 += QuantOps.Half(ht, w + 2) * (scales[b] * sums[b]);
        }
        return Vector256.Sum(Avx.Add(acc0, acc1)) + (m0 + m1);
    }

    /// <summary>One block's exact integer sum as 8 int32 partial sums; specialised per kind by the JIT.</summary>
    private interface IBlockDot
    {
        static abstract bool HasMin { get; }
        /// <summary>The constant taken off every quant (8 for int4 symmetric), applied as offset·Σa.</summary>
        static abstract int Offset { get; }
        static abstract Vector256<int> Dot(byte* w, sbyte* a, int g, int sumA);
        /// <summary>Raw Σ q·a of one block against four tokens' activations <paramref name="stride"/> bytes apart (no offset term).</summary>
        static abstract void Dot4(byte* w, sbyte* a, nint stride, int g, ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3);
    }

    private struct Int8Block : IBlockDot
    {
        public static bool HasMin => false;
        public static int Offset => 0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Dot4(byte* w, sbyte* a, nint stride, int g, ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3)
        {
            for (int c = 0; c < g; c += 32)
            {
                var wv = Avx.LoadVector256((sbyte*)w + 2 + c);
                var u = Avx2.Abs(wv);
                i0 = DotU8S8(i0, u, Avx2.Sign(Avx.LoadVector256(a + c), wv));
                i1 = DotU8S8(i1, u, Avx2.Sign(Avx.LoadVector256(a + stride + c), wv));
                i2 = DotU8S8(i2, u, Avx2.Sign(Avx.LoadVector256(a + 2 * stride + c), wv));
                i3 = DotU8S8(i3, u, Avx2.Sign(Avx.LoadVector256(a + 3 * stride + c), wv));
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(byte* w, sbyte* a, int g, int sumA)
        {
            var isum = Vector256<int>.Zero;
            for (int c = 0; c < g; c += 32) isum = DotS8S8(isum, Avx.LoadVector256((sbyte*)w + 2 + c), Avx.LoadVector256(a + c));
            return isum;
        }
    }

    private struct Int4Block : IBlockDot
    {
        public static bool HasMin => false;
        public static int Offset => 8;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Dot4(byte* w, sbyte* a, nint stride, int g, ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) =>
            Nibbles4Dot4(w + 2, a, stride, g, ref i0, ref i1, ref i2, ref i3);

        // Σ (q − 8)·a = Σ q·a − 8·Σ a: the offset leaves the inner loop, the block sum stays an exact integer.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(byte* w, sbyte* a, int g, int sumA) =>
            Avx2.Subtract(Nibbles4Dot(w + 2, a, g), Vector256.CreateScalar(sumA << 3));
    }

    private struct Int4AsymBlock : IBlockDot
    {
        public static bool HasMin => true;
        public static int Offset => 0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Dot4(byte* w, sbyte* a, nint stride, int g, ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3) =>
            Nibbles4Dot4(w + 4, a, stride, g, ref i0, ref i1, ref i2, ref i3);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(byte* w, sbyte* a, int g, int sumA) => Nibbles4Dot(w + 4, a, g);
    }

    /// <summary>Σ q·a over one 4-bit block (q the unsigned nibbles), as 8 int32 partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Nibbles4Dot(byte* qs, sbyte* a, int g)
    {
        var isum = Vector256<int>.Zero;
        if (g == 32)
        {
            var v = Sse2.LoadVector128(qs);
            var lo = Sse2.And(v, Vector128.Create((byte)0x0F));
            var hi = Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), Vector128.Create((byte)0x0F));
            return DotU8S8(isum, Vector256.Create(lo, hi), Avx.LoadVector256(a));
        }
        var lowNibble = Vector256.Create((byte)0x0F);
        for (int c = 0; c < g / 2; c += 32)
        {
            var v = Avx.LoadVector256(qs + c);
            isum = DotU8S8(isum, Avx2.And(v, lowNibble), Avx.LoadVector256(a + c));
            isum = DotU8S8(isum, Avx2.And(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), lowNibble), Avx.LoadVector256(a + g / 2 + c));
        }
        return isum;
    }

    /// <summary>
    /// acc + Σ u·s in groups of four into int32 lanes. vpdpbusd does not saturate; vpmaddubsw saturates
    /// pairs at ±32767, which u ≤ 128 (|int8| or a nibble) times |s| ≤ 127 (activations never hold −128)
    /// cannot reach (2·128·127 = 32512).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> DotU8S8(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, u, s);
        return Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1)));
    }

    /// <summary>Signed × signed via the sign trick: |w| as unsigned times a with w's sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotS8S8(Vector256<int> acc, Vector256<sbyte> w, Vector256<sbyte> a) =>
        DotU8S8(acc, Avx2.Abs(w), Avx2.Sign(a, w));
}
