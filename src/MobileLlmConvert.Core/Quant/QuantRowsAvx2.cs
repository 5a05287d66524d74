using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// The decode kernel for the int8 / int4 families (Q8_0, Q4_0, Q4_1 and their wider groups): one
/// activation row against eight weight rows per pass, in place in the stored layout (no repack). The
/// per-row kernel (<see cref="QuantKernelsAvx2.DotFast"/>) spends most of a g = 32 block on work that
/// does not depend on the weights' bytes: a scalar f16 scale lookup, a multiply by the activation
/// scale, a broadcast, the −8·Σa offset and a convert, for every row. Here each block's activation
/// chunk is loaded once for eight rows, two rows share one 256-bit register (row p's 16 bytes in the
/// low lane, row q's in the high lane, both multiplied by the same 16 activation bytes broadcast to
/// both lanes), and three vphaddd merge the four pair sums into one vector with one row per lane.
/// The offset is then one subtract, the convert one vcvtdq2ps, the eight rows' f16 scales one
/// vpgatherdd and a bit-level f16 → f32 conversion (.NET exposes no F16C), and the accumulation one FMA:
/// per block and eight rows what the per-row kernel spent per block and row. llama.cpp gets the same
/// effect by repacking Q4_0 into eight-row interleaved blocks at load (ggml/src/ggml-cpu/repack.cpp,
/// block_q4_0x8, ggml_gemv_q4_0_8x8_q8_0); this kernel reads the file's layout as it is.
/// <para>
/// Exactness: every block's integer sum Σ (q − offset)·a is exact, as in every kernel, and each lane
/// accumulates d·dx·sum over the blocks in block order with one FMA per block (plus, for Q4_1, m·(dx·Σa)
/// in a second accumulator added at the end). A group of fewer than eight rows repeats its last row in
/// the spare lanes, which are computed and dropped: a row's result is bit-identical whichever rows
/// share its group, so how the executor splits rows among threads never changes a logit.
/// </para>
/// </summary>
internal static unsafe class QuantRowsAvx2
{
    /// <summary>Rows per pass: one per lane of a 256-bit f32 vector.</summary>
    public const int Rows = 8;

    /// <summary>The environment variable that turns this kernel off (<c>0</c>): the per-row kernel runs instead, for A/B measurements.</summary>
    public const string EnvironmentVariable = "MLCONVERT_QROWS";

    private static readonly bool s_enabled = Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim() != "0";

    [ThreadStatic] private static bool? t_forced;

    /// <summary>Whether this kernel runs on the calling thread: on unless <see cref="EnvironmentVariable"/> is 0 or <see cref="Force"/> says otherwise.</summary>
    public static bool Enabled => t_forced ?? s_enabled;

    /// <summary>The environment variable that turns the load-time repack into panels off (<c>0</c>): the kernel then reads the file's layout.</summary>
    public const string PackEnvironmentVariable = "MLCONVERT_REPACK";

    private static readonly bool s_pack = Environment.GetEnvironmentVariable(PackEnvironmentVariable)?.Trim() != "0";

    [ThreadStatic] private static bool? t_forcedPack;

    /// <summary>Whether matrices are repacked into panels (<see cref="Pack"/>) on the calling thread; needs <see cref="Enabled"/>.</summary>
    public static bool PackEnabled => Enabled && (t_forcedPack ?? s_pack);

    /// <summary>Turns the repack on or off on the calling thread until the scope is disposed (benchmarks, tests).</summary>
    public static PackScope ForcePack(bool enabled)
    {
        var previous = t_forcedPack;
        t_forcedPack = enabled;
        return new PackScope(previous);
    }

    /// <summary>Restores the previous thread-local repack setting.</summary>
    public readonly struct PackScope(bool? previous) : IDisposable
    {
        public void Dispose() => t_forcedPack = previous;
    }

    /// <summary>Turns the kernel on or off on the calling thread until the scope is disposed (benchmarks, tests).</summary>
    public static Scope Force(bool enabled)
    {
        var previous = t_forced;
        t_forced = enabled;
        return new Scope(previous);
    }

    /// <summary>Restores the previous thread-local setting.</summary>
    public readonly struct Scope(bool? previous) : IDisposable
    {
        public void Dispose() => t_forced = previous;
    }

    /// <summary>
    /// Whether rows of this type and stride run here: the int8 / int4 kinds, and row offsets within a
    /// group that fit vpgatherdd's signed 32-bit indices.
    /// </summary>
    public static bool Supports(ElementTypeInfo info, nint rowBytes) =>
        Enabled && rowBytes <= int.MaxValue / Rows && info.Kind is QuantKind.Int8Symmetric or QuantKind.Int4Symmetric or QuantKind.Int4Asymmetric;

    /// <summary>y[r] for <paramref name="rows"/> rows <paramref name="rowBytes"/> apart, eight at a time.</summary>
    public static void DotFastRows(ElementTypeInfo info, byte* w, nint rowBytes, int rows, byte* xq, int blocks, float* y)
    {
        switch (info.Kind)
        {
            case QuantKind.Int8Symmetric: Run<Int8Pair>(info, w, rowBytes, rows, xq, blocks, y); break;
            case QuantKind.Int4Symmetric: Run<Int4SymPair>(info, w, rowBytes, rows, xq, blocks, y); break;
            case QuantKind.Int4Asymmetric: Run<Int4AsymPair>(info, w, rowBytes, rows, xq, blocks, y); break;
            default: throw new ArgumentException($"{info.Name}: no multi-row kernel for kind {info.Kind}");
        }
    }

    private static void Run<TPair>(ElementTypeInfo info, byte* w, nint rowBytes, int rows, byte* xq, int blocks, float* y)
        where TPair : struct, IPair
    {
        for (int r = 0; r < rows; r += Rows) Group<TPair>(info, w + r * rowBytes, rowBytes, Math.Min(Rows, rows - r), xq, blocks, y + r);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void Group<TPair>(ElementTypeInfo info, byte* w, nint rowBytes, int n, byte* xq, int blocks, float* y)
        where TPair : struct, IPair
    {
        int g = info.BlockValues, bb = info.BlockBytes;
        var layout = new ActivationLayout(g, blocks);
        float* scales = (float*)(xq + layout.ScalesOffset);
        int* sums = (int*)(xq + layout.SumsOffset);
        // Spare lanes of a short group read the last row again (see the class remarks).
        int* off = stackalloc int[Rows];
        for (int r = 0; r < Rows; r++) off[r] = (int)(Math.Min(r, n - 1) * rowBytes);
        byte* p0 = w + off[0], p1 = w + off[1], p2 = w + off[2], p3 = w + off[3];
        byte* p4 = w + off[4], p5 = w + off[5], p6 = w + off[6], p7 = w + off[7];
        // Lane order after the vphaddd tree: pair sums [p | q] of pairs (0,1), (2,3), (4,5), (6,7) reduce to
        // rows 0, 2, 4, 6 in the low lane and 1, 3, 5, 7 in the high lane. The scales are gathered in that
        // order and the result is put back in row order once per group.
        var gather = Vector256.Create(off[0], off[2], off[4], off[6], off[1], off[3], off[5], off[7]);
        // The next group's rows, contiguous after this group's, fetched ahead a share per block: eight
        // rows read side by side are eight short streams (13 cache lines each for a 1536-wide Q4_0 row)
        // that the hardware prefetcher does not pick up in time; without this the kernel ran at half
        // the per-row kernel's speed on matrices larger than the cache (bench/kernels.sh).
        byte* ahead = w + Rows * rowBytes;
        var rows = new RowPointers(p0, p1, p2, p3, p4, p5, p6, p7);
        // g = 32 (Q4_0, Q8_0, Q4_1) gets its own copy of the loop with the chunk loop unrolled away.
        var acc = g == 32
            ? Blocks<TPair>(rows, gather, ahead, (sbyte*)xq, scales, sums, blocks, 32, bb, 1)
            : Blocks<TPair>(rows, gather, ahead, (sbyte*)xq, scales, sums, blocks, g, bb, g / 32);
        var ordered = Avx2.PermuteVar8x32(acc, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7));
        if (n == Rows)
        {
            Avx.Store(y, ordered);
            return;
        }
        float* tmp = stackalloc float[Rows];
        Avx.Store(tmp, ordered);
        for (int r = 0; r < n; r++) y[r] = tmp[r];
    }

    /// <summary>The eight rows' first blocks (a short group repeats its last row).</summary>
    private readonly struct RowPointers(byte* p0, byte* p1, byte* p2, byte* p3, byte* p4, byte* p5, byte* p6, byte* p7)
    {
        public readonly byte* P0 = p0, P1 = p1, P2 = p2, P3 = p3, P4 = p4, P5 = p5, P6 = p6, P7 = p7;
    }

    /// <summary>Σ over blocks of d·dx·(integer block sum) [+ m·dx·Σa], one lane per row (lane order as gathered).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Blocks<TPair>(RowPointers rows, Vector256<int> gather, byte* ahead, sbyte* a, float* scales, int* sums,
        int blocks, int g, int bb, int chunks)
        where TPair : struct, IPair
    {
        byte* p0 = rows.P0, p1 = rows.P1, p2 = rows.P2, p3 = rows.P3, p4 = rows.P4, p5 = rows.P5, p6 = rows.P6, p7 = rows.P7;
        var acc = Vector256<float>.Zero;
        var macc = Vector256<float>.Zero;
        int lines = (Rows * bb + 63) / 64;
        nint o = 0;
        for (int b = 0; b < blocks; b++, o += bb, a += g)
        {
            byte* pf = ahead + Rows * o;
            for (int k = 0; k < lines; k++) Sse.Prefetch0(pf + 64 * k);
            var s01 = Vector256<int>.Zero;
            var s23 = Vector256<int>.Zero;
            var s45 = Vector256<int>.Zero;
            var s67 = Vector256<int>.Zero;
            for (int j = 0; j < chunks; j++)
            {
                TPair.Activations(a, g, j, out var x0, out var x1);
                s01 = TPair.Dot(p0 + o, p1 + o, g, j, x0, x1, s01);
                s23 = TPair.Dot(p2 + o, p3 + o, g, j, x0, x1, s23);
                s45 = TPair.Dot(p4 + o, p5 + o, g, j, x0, x1, s45);
                s67 = TPair.Dot(p6 + o, p7 + o, g, j, x0, x1, s67);
            }
            var isum = Avx2.HorizontalAdd(Avx2.HorizontalAdd(s01, s23), Avx2.HorizontalAdd(s45, s67));
            if (TPair.Offset != 0) isum = Avx2.Subtract(isum, Vector256.Create(sums[b] * TPair.Offset));
            // d (and m for Q4_1) of the eight rows' block b: the block's first four bytes, one gather.
            var head = Avx2.GatherVector256((int*)(p0 + o), gather, 1);
            var dx = Vector256.Create(scales[b]);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), Avx.Multiply(HalfVectors.ToSingle(head.AsUInt32()), dx), acc);
            if (TPair.HasMin) macc = Fma.MultiplyAdd(HalfVectors.ToSingle(Avx2.ShiftRightLogical(head, 16).AsUInt32()), Vector256.Create(scales[b] * sums[b]), macc);
        }
        return TPair.HasMin ? Avx.Add(acc, macc) : acc;
    }

    /// <summary>Bytes of one 16-byte piece of eight rows in a packed panel block.</summary>
    private const int PieceBytes = 16 * Rows;

    /// <summary>The lane each row of a group lands in after the vphaddd tree (see <see cref="Group{TPair}"/>).</summary>
    private static ReadOnlySpan<byte> LaneRow => [0, 2, 4, 6, 1, 3, 5, 7];

    /// <summary>Bytes at the head of each block that are scales: d (2) or d and m (4, Q4_1).</summary>
    private static int HeadBytes(ElementTypeInfo info) => info.Kind == QuantKind.Int4Asymmetric ? 4 : 2;

    /// <summary>
    /// Packs <paramref name="panels"/> groups of eight rows (<paramref name="rowBytes"/> apart, whole
    /// blocks) into panels, the interleaved layout of llama.cpp's block_q4_0x8 (ggml/src/ggml-cpu/repack.cpp)
    /// arranged for this kernel: per block, the eight rows' heads (d, or d and m) in lane order, then for
    /// every 16 bytes of quants the eight rows' 16 bytes in row order, so each pair of rows is one aligned
    /// 32-byte load. A panel is eight rows' bytes, reordered: same size, read front to back as one stream.
    /// </summary>
    public static void Pack(ElementTypeInfo info, byte* src, nint rowBytes, int panels, int blocks, byte* dst)
    {
        int bb = info.BlockBytes, hb = HeadBytes(info), pieces = (bb - hb) / 16;
        for (int p = 0; p < panels; p++)
        {
            byte* rows = src + (nint)p * Rows * rowBytes;
            for (int b = 0; b < blocks; b++, dst += Rows * bb)
            {
                for (int lane = 0; lane < Rows; lane++)
                    Buffer.MemoryCopy(rows + LaneRow[lane] * rowBytes + (nint)b * bb, dst + lane * hb, hb, hb);
                byte* q = dst + Rows * hb;
                for (int k = 0; k < pieces; k++)
                {
                    for (int r = 0; r < Rows; r++)
                        Buffer.MemoryCopy(rows + r * rowBytes + (nint)b * bb + hb + 16 * k, q + k * PieceBytes + 16 * r, 16, 16);
                }
            }
        }
    }

    /// <summary>y[8p + r] for <paramref name="panels"/> packed panels (<see cref="Pack"/>); the same values, bit for bit, as <see cref="DotFastRows"/> on the rows they hold.</summary>
    public static void DotFastPanels(ElementTypeInfo info, byte* packed, int panels, byte* xq, int blocks, float* y)
    {
        switch (info.Kind)
        {
            case QuantKind.Int8Symmetric: Panels<Int8Pair>(info, packed, panels, xq, blocks, y); break;
            case QuantKind.Int4Symmetric: Panels<Int4SymPair>(info, packed, panels, xq, blocks, y); break;
            case QuantKind.Int4Asymmetric: Panels<Int4AsymPair>(info, packed, panels, xq, blocks, y); break;
            default: throw new ArgumentException($"{info.Name}: no multi-row kernel for kind {info.Kind}");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panels<TPair>(ElementTypeInfo info, byte* packed, int panels, byte* xq, int blocks, float* y)
        where TPair : struct, IPair
    {
        int g = info.BlockValues, bb = info.BlockBytes;
        var layout = new ActivationLayout(g, blocks);
        float* scales = (float*)(xq + layout.ScalesOffset);
        int* sums = (int*)(xq + layout.SumsOffset);
        var order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        for (int p = 0; p < panels; p++, packed += (nint)Rows * bb * blocks, y += Rows)
        {
            var acc = g == 32
                ? PanelBlocks<TPair>(packed, (sbyte*)xq, scales, sums, blocks, 32, bb, 1)
                : PanelBlocks<TPair>(packed, (sbyte*)xq, scales, sums, blocks, g, bb, g / 32);
            Avx.Store(y, Avx2.PermuteVar8x32(acc, order));
        }
    }

    /// <summary><see cref="Blocks{TPair}"/> over one packed panel: the same arithmetic in the same order per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> PanelBlocks<TPair>(byte* pb, sbyte* a, float* scales, int* sums, int blocks, int g, int bb, int chunks)
        where TPair : struct, IPair
    {
        var acc = Vector256<float>.Zero;
        var macc = Vector256<float>.Zero;
        int quants = Rows * (TPair.HasMin ? 4 : 2);
        for (int b = 0; b < blocks; b++, pb += Rows * bb, a += g)
        {
            var s01 = Vector256<int>.Zero;
            var s23 = Vector256<int>.Zero;
            var s45 = Vector256<int>.Zero;
            var s67 = Vector256<int>.Zero;
            byte* q = pb + quants;
            for (int j = 0; j < chunks; j++)
            {
                TPair.Activations(a, g, j, out var x0, out var x1);
                s01 = TPair.DotPanel(q, j, x0, x1, s01);
                s23 = TPair.DotPanel(q + 32, j, x0, x1, s23);
                s45 = TPair.DotPanel(q + 64, j, x0, x1, s45);
                s67 = TPair.DotPanel(q + 96, j, x0, x1, s67);
            }
            var isum = Avx2.HorizontalAdd(Avx2.HorizontalAdd(s01, s23), Avx2.HorizontalAdd(s45, s67));
            if (TPair.Offset != 0) isum = Avx2.Subtract(isum, Vector256.Create(sums[b] * TPair.Offset));
            var head = TPair.HasMin ? Vector256.Load((int*)pb) : Avx2.ConvertToVector256Int32((ushort*)pb).AsInt32();
            var dx = Vector256.Create(scales[b]);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), Avx.Multiply(HalfVectors.ToSingle(head.AsUInt32()), dx), acc);
            if (TPair.HasMin) macc = Fma.MultiplyAdd(HalfVectors.ToSingle(Avx2.ShiftRightLogical(head, 16).AsUInt32()), Vector256.Create(scales[b] * sums[b]), macc);
        }
        return TPair.HasMin ? Avx.Add(acc, macc) : acc;
    }

    /// <summary>One layout family's integer work for a pair of rows and one 32-value chunk of a block.</summary>
    private interface IPair
    {
        /// <summary>The constant taken off every quant (8 for int4 symmetric), applied as offset·Σa per block.</summary>
        static abstract int Offset { get; }
        static abstract bool HasMin { get; }

        /// <summary>The chunk's activation bytes, 16 each, broadcast to both 128-bit lanes.</summary>
        static abstract void Activations(sbyte* a, int g, int chunk, out Vector256<sbyte> x0, out Vector256<sbyte> x1);

        /// <summary>acc + Σ q·a for chunk <paramref name="chunk"/> of the blocks at p (low lane) and q (high lane).</summary>
        static abstract Vector256<int> Dot(byte* p, byte* q, int g, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc);

        /// <summary>The same from a packed panel block: <paramref name="pair"/> points at the pair's 32 bytes of 16-byte piece 0 (see <see cref="Pack"/>).</summary>
        static abstract Vector256<int> DotPanel(byte* pair, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Lanes(byte* p, byte* q) => Vector256.Create(Sse2.LoadVector128(p), Sse2.LoadVector128(q));

    /// <summary>
    /// Chunk c of a 4-bit block (g/32 chunks): bytes 16c .. 16c + 15 hold values 16c .. in their low
    /// nibbles and g/2 + 16c .. in their high nibbles (ggml's quantize_row_q4_0_ref order).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> NibblePair(byte* p, byte* q, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc) =>
        NibbleDot(Lanes(p + 16 * chunk, q + 16 * chunk), x0, x1, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> NibbleDot(Vector256<byte> v, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc)
    {
        var low = Vector256.Create((byte)0x0F);
        acc = QuantKernelsAvx2.DotU8S8(acc, Avx2.And(v, low), x0);
        return QuantKernelsAvx2.DotU8S8(acc, Avx2.And(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), low), x1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NibbleActivations(sbyte* a, int g, int chunk, out Vector256<sbyte> x0, out Vector256<sbyte> x1)
    {
        x0 = Avx2.BroadcastVector128ToVector256(a + 16 * chunk);
        x1 = Avx2.BroadcastVector128ToVector256(a + g / 2 + 16 * chunk);
    }

    private struct Int4SymPair : IPair
    {
        public static int Offset => 8;
        public static bool HasMin => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Activations(sbyte* a, int g, int chunk, out Vector256<sbyte> x0, out Vector256<sbyte> x1) =>
            NibbleActivations(a, g, chunk, out x0, out x1);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(byte* p, byte* q, int g, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc) =>
            NibblePair(p + 2, q + 2, chunk, x0, x1, acc);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> DotPanel(byte* pair, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc) =>
            NibbleDot(Vector256.Load(pair + PieceBytes * chunk), x0, x1, acc);
    }

    private struct Int4AsymPair : IPair
    {
        public static int Offset => 0;
        public static bool HasMin => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Activations(sbyte* a, int g, int chunk, out Vector256<sbyte> x0, out Vector256<sbyte> x1) =>
            NibbleActivations(a, g, chunk, out x0, out x1);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(byte* p, byte* q, int g, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc) =>
            NibblePair(p + 4, q + 4, chunk, x0, x1, acc);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> DotPanel(byte* pair, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc) =>
            NibbleDot(Vector256.Load(pair + PieceBytes * chunk), x0, x1, acc);
    }

    /// <summary>Chunk c of an 8-bit block: values 32c .. 32c + 15 against x0, 32c + 16 .. 32c + 31 against x1; signed × signed by the sign trick.</summary>
    private struct Int8Pair : IPair
    {
        public static int Offset => 0;
        public static bool HasMin => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Activations(sbyte* a, int g, int chunk, out Vector256<sbyte> x0, out Vector256<sbyte> x1)
        {
            x0 = Avx2.BroadcastVector128ToVector256(a + 32 * chunk);
            x1 = Avx2.BroadcastVector128ToVector256(a + 32 * chunk + 16);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(byte* p, byte* q, int g, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc)
        {
            int c = 2 + 32 * chunk;
            var w0 = Lanes(p + c, q + c).AsSByte();
            var w1 = Lanes(p + c + 16, q + c + 16).AsSByte();
            return SignedDot(w0, w1, x0, x1, acc);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> DotPanel(byte* pair, int chunk, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc) =>
            SignedDot(Vector256.Load((sbyte*)pair + PieceBytes * 2 * chunk), Vector256.Load((sbyte*)pair + PieceBytes * (2 * chunk + 1)), x0, x1, acc);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> SignedDot(Vector256<sbyte> w0, Vector256<sbyte> w1, Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<int> acc)
        {
            acc = QuantKernelsAvx2.DotU8S8(acc, Avx2.Abs(w0), Avx2.Sign(x0, w0));
            return QuantKernelsAvx2.DotU8S8(acc, Avx2.Abs(w1), Avx2.Sign(x1, w1));
        }
    }
}
