using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// AVX-512 (F + BW) fast-path row kernel behind <see cref="QuantOps"/> for the int4 families at groups
/// 64 and 128 (<see cref="Supports"/>): the decode matmul, one activation row against many weight rows.
/// Callers have checked spans and <see cref="QuantIsa.Current"/>.
/// <para>
/// Work is cut in 64-value chunks, one 512-bit register of unsigned weight bytes times 64 activation
/// bytes (vpmaddubsw, then vpmaddwd against ones: .NET 10 exposes no 512-bit vpdpbusd for u8 × s8,
/// only AVX-VNNI's 256-bit form, see System.Runtime.Intrinsics.X86.AvxVnni). The per-block work of the
/// AVX2 kernel (scale lookup, multiply, broadcast, offset) is taken out of the chunk loop: each row's
/// block scales are read once into a vector of sixteen, multiplied by the sixteen activation scales,
/// and spread to the chunk's lanes with one vpermps. The −8·Σa offset of int4 symmetric blocks and the m·dx·Σa term of the asymmetric kind are
/// one 16-wide multiply-add per sixteen blocks against coefficients computed once per call.
/// </para>
/// <para>
/// The integer sums Σ q·a (and Σ a) are exact as in every kernel; the block result is
/// d·dx·Σ q·a − d·(8·dx·Σa) in f32 instead of d·dx·(Σ q·a − 8·Σa), so results agree with the
/// scalar reference up to f32 rounding and summation order (and exactly when every scale is 1).
/// Nibble order follows ggml (ggml/src/ggml-quants.c quantize_row_q4_0_ref): byte j of a g-value block
/// holds value j in its low nibble and value j + g/2 in its high nibble.
/// </para>
/// </summary>
internal static unsafe class QuantKernelsAvx512
{
    /// <summary>Blocks per row the per-call arrays on the stack hold (four of 16 KiB); wider rows use AVX2.</summary>
    private const int MaxBlocks = 4096;

    /// <summary>Blocks whose scales share one vector.</summary>
    private const int Group = 16;

    /// <summary>The CPU features these kernels use.</summary>
    public static bool IsSupported => Avx512F.IsSupported && Avx512BW.IsSupported;

    /// <summary>
    /// Whether a row of <paramref name="blocks"/> blocks of this type runs here: the int4 kinds at groups
    /// 64 and 128, where it measured at least as fast as the AVX2 kernel (bench/kernels.sh; docs/quantization.md).
    /// At g = 32 and for int8 it measured 0.6-0.97x of AVX-VNNI's 256-bit vpdpbusd, so those stay on AVX2.
    /// </summary>
    public static bool Supports(ElementTypeInfo info, int blocks) =>
        blocks <= MaxBlocks && info.BlockValues >= 64 && info.Kind is QuantKind.Int4Symmetric or QuantKind.Int4Asymmetric;

    /// <summary>y[r] = Σ over the row's blocks, for <paramref name="rows"/> rows <paramref name="rowBytes"/> apart.</summary>
    [SkipLocalsInit]
    public static void DotFastRows(ElementTypeInfo info, byte* w, nint rowBytes, int rows, byte* xq, int blocks, float* y)
    {
        int padded = (blocks + Group - 1) / Group * Group;
        var layout = new ActivationLayout(info.BlockValues, blocks);
        float* dx = stackalloc float[padded];
        float* coef = stackalloc float[padded];
        float* ds = stackalloc float[padded];
        float* ms = stackalloc float[padded];
        float* scales = (float*)(xq + layout.ScalesOffset);
        int* sums = (int*)(xq + layout.SumsOffset);
        // The offset term's coefficient per block: 8·dx·Σa (int4 symmetric) or dx·Σa (the min's).
        float offset = info.Kind == QuantKind.Int4Symmetric ? 8f : 1f;
        for (int b = 0; b < padded; b++)
        {
            dx[b] = b < blocks ? scales[b] : 0f;
            coef[b] = b < blocks ? offset * scales[b] * sums[b] : 0f;
            ds[b] = 0f;
            ms[b] = 0f;
        }
        switch (info.Kind)
        {
            case QuantKind.Int4Symmetric:
                for (int r = 0; r < rows; r++) y[r] = Row<Int4SymChunks>(info, w + r * rowBytes, xq, blocks, padded, dx, coef, ds, ms);
                break;
            case QuantKind.Int4Asymmetric:
                for (int r = 0; r < rows; r++) y[r] = Row<Int4AsymChunks>(info, w + r * rowBytes, xq, blocks, padded, dx, coef, ds, ms);
                break;
            default:
                throw new ArgumentException($"{info.Name}: no AVX-512 kernel for kind {info.Kind}");
        }
    }

    /// <summary>One row: Σ_b d_b·dx_b·Σ q·a, minus (int4 symmetric) or plus (asymmetric) the offset term.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Row<TChunks>(ElementTypeInfo info, byte* w, byte* xq, int blocks, int padded, float* dx, float* coef, float* ds, float* ms)
        where TChunks : struct, IChunks
    {
        float* ht = QuantOps.HalfTable;
        int g = info.BlockValues, bb = info.BlockBytes;
        int shift = g == 64 ? 6 : 7;
        sbyte* a = (sbyte*)xq;
        // The row's block scales d_b (and mins m_b), f16 -> f32 through the same table as every kernel; zero past the row.
        for (int b = 0; b < blocks; b++) ds[b] = QuantOps.Half(ht, w + b * bb);
        if (TChunks.HasMin)
        {
            for (int b = 0; b < blocks; b++) ms[b] = QuantOps.Half(ht, w + b * bb + 2);
        }
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var off = Vector512<float>.Zero;
        var lane4 = Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60);
        for (int b0 = 0; b0 < padded; b0 += Group)
        {
            var d16 = Vector512.Load(ds + b0);
            var s16 = Avx512F.Multiply(d16, Vector512.Load(dx + b0));
            if (TChunks.Offset != 0) off = Avx512F.FusedMultiplyAdd(d16, Vector512.Load(coef + b0), off);
            if (TChunks.HasMin) off = Avx512F.FusedMultiplyAdd(Vector512.Load(ms + b0), Vector512.Load(coef + b0), off);
            int values = Math.Min(Group, blocks - b0) * g;
            byte* wb = w + (long)b0 * bb;
            sbyte* ab = a + (long)b0 * g;
            var pos = lane4;
            int c = 0;
            // Two chunks per iteration into two accumulators: the FMA's latency would otherwise bind the loop.
            for (; c + 128 <= values; c += 128)
            {
                var i0 = TChunks.Chunk(wb, bb, g, c, ab + c);
                var i1 = TChunks.Chunk(wb, bb, g, c + 64, ab + c + 64);
                acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i0), Avx512F.PermuteVar16x32(s16, Vector512.ShiftRightLogical(pos, shift)), acc0);
                pos = Avx512F.Add(pos, Vector512.Create(64));
                acc1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i1), Avx512F.PermuteVar16x32(s16, Vector512.ShiftRightLogical(pos, shift)), acc1);
                pos = Avx512F.Add(pos, Vector512.Create(64));
            }
            for (; c < values; c += 64)
            {
                var i0 = TChunks.Chunk(wb, bb, g, c, ab + c);
                acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i0), Avx512F.PermuteVar16x32(s16, Vector512.ShiftRightLogical(pos, shift)), acc0);
                pos = Avx512F.Add(pos, Vector512.Create(64));
            }
        }
        float main = Vector512.Sum(Avx512F.Add(acc0, acc1));
        float o = Vector512.Sum(off);
        return TChunks.Offset != 0 ? main - o : main + o;
    }

    /// <summary>One layout family's 64-value chunk: its integer products as sixteen int32 sums of four.</summary>
    private interface IChunks
    {
        /// <summary>Non-zero when the family subtracts a constant from every quant (int4 symmetric: 8).</summary>
        static abstract int Offset { get; }
        static abstract bool HasMin { get; }

        /// <summary>Σ q·a for values c .. c + 63 of the block group at <paramref name="w"/> (c a multiple of 64; lane l holds values c + 4l .. c + 4l + 3).</summary>
        static abstract Vector512<int> Chunk(byte* w, int bb, int g, int c, sbyte* a);
    }

    /// <summary>Σ u·s in groups of four lanes (no saturation: u ≤ 128 and |s| ≤ 127 keep pairs under 32767).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> DotU8S8(Vector512<byte> u, Vector512<sbyte> s) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), Vector512.Create((short)1));

    private struct Int4SymChunks : IChunks
    {
        public static int Offset => 8;
        public static bool HasMin => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Chunk(byte* w, int bb, int g, int c, sbyte* a) =>
            DotU8S8(Nibbles(w, bb, g, c, 2), Vector512.Load(a));
    }

    private struct Int4AsymChunks : IChunks
    {
        public static int Offset => 0;
        public static bool HasMin => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Chunk(byte* w, int bb, int g, int c, sbyte* a) =>
            DotU8S8(Nibbles(w, bb, g, c, 4), Vector512.Load(a));
    }

    /// <summary>
    /// The unpacked nibbles of values c .. c + 63, quants starting <paramref name="qsOffset"/> bytes into
    /// each block. g = 64: the block's 32 bytes in both halves of the register, the upper copy shifted
    /// right by 4 (vpsrlvq). g = 128: the block's 64 bytes, shifted for its upper 64 values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Nibbles(byte* w, int bb, int g, int c, int qsOffset)
    {
        var low = Vector512.Create((byte)0x0F);
        if (g == 64)
        {
            var v = Vector512.Create(Vector256.Load(w + (c >> 6) * bb + qsOffset));
            var counts = Vector512.Create(0UL, 0, 0, 0, 4, 4, 4, 4);
            return Avx512BW.And(Avx512F.ShiftRightLogicalVariable(v.AsUInt64(), counts).AsByte(), low);
        }
        var q = Vector512.Load(w + (c >> 7) * bb + qsOffset);
        return (c & 64) == 0 ? Avx512BW.And(q, low) : Avx512BW.And(Avx512BW.ShiftRightLogical(q.AsUInt16(), 4).AsByte(), low);
    }
}
