using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// The prefill kernel for 4-bit rows (and 8-bit rows where VNNI is present): eight weight rows at a
/// time ("a panel", two panels side by side where the rows allow), one output row per SIMD lane. The
/// panel's quants are unpacked once per call, as unsigned bytes, and stored transposed (for every four
/// consecutive values, the eight rows' bytes side by side in one 256-bit vector), so each vpdpbusd multiplies that vector
/// by four activation bytes of one token broadcast to every lane. The eight lanes then hold the eight
/// rows' block sums for that token: the offset, the scale and the accumulation are vector operations
/// and the result is stored with one store, with no horizontal sum per block or per output (the
/// per-pair <see cref="Tile4{TBlock}"/> spends most of its instructions on those at g = 32).
/// Each block's integer sum is the same exact Σ (q − offset)·a = Σ q·a − offset·Σa as
/// <see cref="DotFast"/>'s; only the f32 order of the sum over blocks (and of the Q4_1 min term) differs.
/// 8-bit quants are stored as q + 128 (0..255, vpdpbusd's unsigned operand) with offset 128; vpmaddubsw
/// would saturate on those (2·255·127 &gt; 32767), so without VNNI 8-bit rows keep the per-pair kernel.
/// </summary>
internal static unsafe partial class QuantKernelsAvx2
{
    private const int PanelRows = 8;

    /// <summary>
    /// Widest row the panel kernel takes: two transposed panels (8 bytes per column each) and their
    /// per-block scales live on the stack, 128 KiB + 32 KiB at this width, well inside a worker
    /// thread's stack (1.5 MiB by default). Wider rows take the per-pair tile kernel.
    /// </summary>
    private const int MaxPanelCols = 8192;

    /// <summary>Rows [0, rowCount − rowCount % 8) through the panel kernel; returns how many rows it did.</summary>
    [SkipLocalsInit]
    private static int PanelRowsFast<TBlock>(ElementTypeInfo info, byte* w, nint rowBytes, int rowCount, byte* xq, nint xqStride, int batch, int blocks, float* y, nint yStride)
        where TBlock : struct, IBlockDot
    {
        int g = info.BlockValues;
        int cols = g * blocks;
        int panels = rowCount / PanelRows;
        if (panels == 0 || cols > MaxPanelCols) return 0;
        var layout = new ActivationLayout(g, blocks);
        int offset = info.Kind == QuantKind.Int8Symmetric ? 128 : TBlock.Offset;
        // Two panels: one 32-byte vector per four columns each; d and m per block, eight rows each.
        byte* packed = stackalloc byte[2 * cols * PanelRows];
        float* d = stackalloc float[2 * blocks * PanelRows];
        float* m = stackalloc float[2 * blocks * PanelRows];
        byte* packedB = packed + cols * PanelRows;
        float* dB = d + blocks * PanelRows, mB = m + blocks * PanelRows;
        int p = 0;
        // Sixteen rows at a time: each broadcast activation feeds two vpdpbusd, so the loads no longer
        // outnumber the multiply-adds (eight rows × four tokens needed 10 loads per 8 vpdpbusd).
        for (; p + 2 <= panels; p += 2)
        {
            PackPanel(info, TBlock.HasMin, w + p * PanelRows * rowBytes, rowBytes, blocks, packed, d, m);
            PackPanel(info, TBlock.HasMin, w + (p + 1) * PanelRows * rowBytes, rowBytes, blocks, packedB, dB, mB);
            float* yp = y + p * PanelRows;
            int s = 0;
            for (; s + 4 <= batch; s += 4)
                Panel16x4<TBlock>(g, blocks, layout, offset, packed, d, m, cols * PanelRows, blocks * PanelRows, xq + s * xqStride, xqStride, yp + s * yStride, yStride);
            for (; s < batch; s++)
            {
                Panel1<TBlock>(g, blocks, layout, offset, packed, d, m, xq + s * xqStride, yp + s * yStride);
                Panel1<TBlock>(g, blocks, layout, offset, packedB, dB, mB, xq + s * xqStride, yp + PanelRows + s * yStride);
            }
        }
        for (; p < panels; p++)
        {
            PackPanel(info, TBlock.HasMin, w + p * PanelRows * rowBytes, rowBytes, blocks, packed, d, m);
            float* yp = y + p * PanelRows;
            int s = 0;
            for (; s + 4 <= batch; s += 4)
                Panel4<TBlock>(g, blocks, layout, offset, packed, d, m, xq + s * xqStride, xqStride, yp + s * yStride, yStride);
            for (; s < batch; s++)
                Panel1<TBlock>(g, blocks, layout, offset, packed, d, m, xq + s * xqStride, yp + s * yStride);
        }
        return panels * PanelRows;
    }

    /// <summary>
    /// Unpacks eight rows' quants into the transposed panel and gathers their block scales (and mins).
    /// Per 32-value chunk: the eight rows' unpacked bytes as eight vectors of eight dwords, transposed
    /// in registers (an 8 × 8 dword transpose), so vector j holds dword j of every row.
    /// </summary>
    private static void PackPanel(ElementTypeInfo info, bool hasMin, byte* w, nint rowBytes, int blocks, byte* packed, float* d, float* m)
    {
        float* ht = QuantOps.HalfTable;
        int g = info.BlockValues, bb = info.BlockBytes;
        for (int b = 0; b < blocks; b++)
        {
            byte* blk = w + b * bb;
            for (int r = 0; r < PanelRows; r++)
            {
                d[b * PanelRows + r] = QuantOps.Half(ht, blk + r * rowBytes);
                m[b * PanelRows + r] = hasMin ? QuantOps.Half(ht, blk + r * rowBytes + 2) : 0f;
            }
            for (int c = 0; c < g; c += 32)
            {
                var r0 = Chunk(info, hasMin, blk, c);
                var r1 = Chunk(info, hasMin, blk + rowBytes, c);
                var r2 = Chunk(info, hasMin, blk + 2 * rowBytes, c);
                var r3 = Chunk(info, hasMin, blk + 3 * rowBytes, c);
                var r4 = Chunk(info, hasMin, blk + 4 * rowBytes, c);
                var r5 = Chunk(info, hasMin, blk + 5 * rowBytes, c);
                var r6 = Chunk(info, hasMin, blk + 6 * rowBytes, c);
                var r7 = Chunk(info, hasMin, blk + 7 * rowBytes, c);
                // Pairs of rows interleaved by dword, then by qword: per 128-bit lane, dword k of four rows.
                var t0 = Avx2.UnpackLow(r0, r1); var t1 = Avx2.UnpackHigh(r0, r1);
                var t2 = Avx2.UnpackLow(r2, r3); var t3 = Avx2.UnpackHigh(r2, r3);
                var t4 = Avx2.UnpackLow(r4, r5); var t5 = Avx2.UnpackHigh(r4, r5);
                var t6 = Avx2.UnpackLow(r6, r7); var t7 = Avx2.UnpackHigh(r6, r7);
                var u0 = Avx2.UnpackLow(t0.AsInt64(), t2.AsInt64()).AsInt32();
                var u1 = Avx2.UnpackHigh(t0.AsInt64(), t2.AsInt64()).AsInt32();
                var u2 = Avx2.UnpackLow(t1.AsInt64(), t3.AsInt64()).AsInt32();
                var u3 = Avx2.UnpackHigh(t1.AsInt64(), t3.AsInt64()).AsInt32();
                var u4 = Avx2.UnpackLow(t4.AsInt64(), t6.AsInt64()).AsInt32();
                var u5 = Avx2.UnpackHigh(t4.AsInt64(), t6.AsInt64()).AsInt32();
                var u6 = Avx2.UnpackLow(t5.AsInt64(), t7.AsInt64()).AsInt32();
                var u7 = Avx2.UnpackHigh(t5.AsInt64(), t7.AsInt64()).AsInt32();
                // Rows 0-3 and 4-7 joined: low lanes hold dwords 0-3 of the chunk, high lanes dwords 4-7.
                int* dst = (int*)(packed + (b * g + c) * PanelRows);
                Avx.Store(dst, Avx2.Permute2x128(u0, u4, 0x20));
                Avx.Store(dst + 8, Avx2.Permute2x128(u1, u5, 0x20));
                Avx.Store(dst + 16, Avx2.Permute2x128(u2, u6, 0x20));
                Avx.Store(dst + 24, Avx2.Permute2x128(u3, u7, 0x20));
                Avx.Store(dst + 32, Avx2.Permute2x128(u0, u4, 0x31));
                Avx.Store(dst + 40, Avx2.Permute2x128(u1, u5, 0x31));
                Avx.Store(dst + 48, Avx2.Permute2x128(u2, u6, 0x31));
                Avx.Store(dst + 56, Avx2.Permute2x128(u3, u7, 0x31));
            }
        }
    }

    /// <summary>
    /// Values c .. c + 31 of the block at <paramref name="blk"/> as unsigned bytes: 8-bit q xor 0x80
    /// (= q + 128 for every int8 q); 4-bit nibbles, byte j holding value j (low nibble) and value
    /// j + g/2 (high nibble), as ggml/src/ggml-quants.c quantize_row_q4_0_ref packs them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk(ElementTypeInfo info, bool hasMin, byte* blk, int c)
    {
        int g = info.BlockValues;
        if (info.Kind == QuantKind.Int8Symmetric)
            return Avx2.Xor(Avx.LoadVector256(blk + 2 + c), Vector256.Create((byte)0x80)).AsInt32();
        byte* qs = blk + (hasMin ? 4 : 2);
        if (g == 32)
        {
            var v = Sse2.LoadVector128(qs);
            var nibble = Vector128.Create((byte)0x0F);
            return Vector256.Create(Sse2.And(v, nibble), Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), nibble)).AsInt32();
        }
        var low = Vector256.Create((byte)0x0F);
        return c < g / 2
            ? Avx2.And(Avx.LoadVector256(qs + c), low).AsInt32()
            : Avx2.And(Avx2.ShiftRightLogical(Avx.LoadVector256(qs + c - g / 2).AsUInt16(), 4).AsByte(), low).AsInt32();
    }

    /// <summary>Eight rows × four tokens; two accumulators per token so the vpdpbusd chains overlap.</summary>
    private static void Panel4<TBlock>(int g, int blocks, ActivationLayout layout, int offset, byte* packed, float* d, float* m, byte* xq, nint xqStride, float* y, nint yStride)
        where TBlock : struct, IBlockDot
    {
        byte* a0 = xq, a1 = xq + xqStride, a2 = xq + 2 * xqStride, a3 = xq + 3 * xqStride;
        nint so = layout.ScalesOffset, mo = layout.SumsOffset;
        var f0 = Vector256<float>.Zero;
        var f1 = Vector256<float>.Zero;
        var f2 = Vector256<float>.Zero;
        var f3 = Vector256<float>.Zero;
        byte* wq = packed;
        for (int b = 0; b < blocks; b++)
        {
            var e0 = Vector256<int>.Zero; var o0 = Vector256<int>.Zero;
            var e1 = Vector256<int>.Zero; var o1 = Vector256<int>.Zero;
            var e2 = Vector256<int>.Zero; var o2 = Vector256<int>.Zero;
            var e3 = Vector256<int>.Zero; var o3 = Vector256<int>.Zero;
            int k = b * g;
            for (int j = 0; j < g; j += 8, wq += 64)
            {
                var we = Avx.LoadVector256(wq);
                var wo = Avx.LoadVector256(wq + 32);
                e0 = DotU8S8(e0, we, Vector256.Create(*(int*)(a0 + k + j)).AsSByte());
                e1 = DotU8S8(e1, we, Vector256.Create(*(int*)(a1 + k + j)).AsSByte());
                e2 = DotU8S8(e2, we, Vector256.Create(*(int*)(a2 + k + j)).AsSByte());
                e3 = DotU8S8(e3, we, Vector256.Create(*(int*)(a3 + k + j)).AsSByte());
                o0 = DotU8S8(o0, wo, Vector256.Create(*(int*)(a0 + k + j + 4)).AsSByte());
                o1 = DotU8S8(o1, wo, Vector256.Create(*(int*)(a1 + k + j + 4)).AsSByte());
                o2 = DotU8S8(o2, wo, Vector256.Create(*(int*)(a2 + k + j + 4)).AsSByte());
                o3 = DotU8S8(o3, wo, Vector256.Create(*(int*)(a3 + k + j + 4)).AsSByte());
            }
            var dv = Avx.LoadVector256(d + b * PanelRows);
            f0 = BlockAccumulate<TBlock>(f0, Avx2.Add(e0, o0), dv, m + b * PanelRows, a0 + so + 4 * b, a0 + mo + 4 * b, offset);
            f1 = BlockAccumulate<TBlock>(f1, Avx2.Add(e1, o1), dv, m + b * PanelRows, a1 + so + 4 * b, a1 + mo + 4 * b, offset);
            f2 = BlockAccumulate<TBlock>(f2, Avx2.Add(e2, o2), dv, m + b * PanelRows, a2 + so + 4 * b, a2 + mo + 4 * b, offset);
            f3 = BlockAccumulate<TBlock>(f3, Avx2.Add(e3, o3), dv, m + b * PanelRows, a3 + so + 4 * b, a3 + mo + 4 * b, offset);
        }
        Avx.Store(y, f0);
        Avx.Store(y + yStride, f1);
        Avx.Store(y + 2 * yStride, f2);
        Avx.Store(y + 3 * yStride, f3);
    }

    /// <summary>
    /// Two panels (sixteen rows, the second <paramref name="panelBytes"/> and <paramref name="scaleFloats"/>
    /// after the first) × four tokens: one accumulator per panel and token, eight independent chains.
    /// </summary>
    private static void Panel16x4<TBlock>(int g, int blocks, ActivationLayout layout, int offset, byte* packed, float* d, float* m,
        nint panelBytes, nint scaleFloats, byte* xq, nint xqStride, float* y, nint yStride)
        where TBlock : struct, IBlockDot
    {
        byte* a0 = xq, a1 = xq + xqStride, a2 = xq + 2 * xqStride, a3 = xq + 3 * xqStride;
        nint so = layout.ScalesOffset, mo = layout.SumsOffset;
        var f0 = Vector256<float>.Zero; var h0 = Vector256<float>.Zero;
        var f1 = Vector256<float>.Zero; var h1 = Vector256<float>.Zero;
        var f2 = Vector256<float>.Zero; var h2 = Vector256<float>.Zero;
        var f3 = Vector256<float>.Zero; var h3 = Vector256<float>.Zero;
        byte* wq = packed;
        for (int b = 0; b < blocks; b++)
        {
            var e0 = Vector256<int>.Zero; var o0 = Vector256<int>.Zero;
            var e1 = Vector256<int>.Zero; var o1 = Vector256<int>.Zero;
            var e2 = Vector256<int>.Zero; var o2 = Vector256<int>.Zero;
            var e3 = Vector256<int>.Zero; var o3 = Vector256<int>.Zero;
            int k = b * g;
            for (int j = 0; j < g; j += 4, wq += 32)
            {
                var wa = Avx.LoadVector256(wq);
                var wb = Avx.LoadVector256(wq + panelBytes);
                var x0 = Vector256.Create(*(int*)(a0 + k + j)).AsSByte();
                var x1 = Vector256.Create(*(int*)(a1 + k + j)).AsSByte();
                var x2 = Vector256.Create(*(int*)(a2 + k + j)).AsSByte();
                var x3 = Vector256.Create(*(int*)(a3 + k + j)).AsSByte();
                e0 = DotU8S8(e0, wa, x0); o0 = DotU8S8(o0, wb, x0);
                e1 = DotU8S8(e1, wa, x1); o1 = DotU8S8(o1, wb, x1);
                e2 = DotU8S8(e2, wa, x2); o2 = DotU8S8(o2, wb, x2);
                e3 = DotU8S8(e3, wa, x3); o3 = DotU8S8(o3, wb, x3);
            }
            float* db = d + b * PanelRows, mb = m + b * PanelRows;
            var da = Avx.LoadVector256(db);
            var dbv = Avx.LoadVector256(db + scaleFloats);
            f0 = BlockAccumulate<TBlock>(f0, e0, da, mb, a0 + so + 4 * b, a0 + mo + 4 * b, offset);
            h0 = BlockAccumulate<TBlock>(h0, o0, dbv, mb + scaleFloats, a0 + so + 4 * b, a0 + mo + 4 * b, offset);
            f1 = BlockAccumulate<TBlock>(f1, e1, da, mb, a1 + so + 4 * b, a1 + mo + 4 * b, offset);
            h1 = BlockAccumulate<TBlock>(h1, o1, dbv, mb + scaleFloats, a1 + so + 4 * b, a1 + mo + 4 * b, offset);
            f2 = BlockAccumulate<TBlock>(f2, e2, da, mb, a2 + so + 4 * b, a2 + mo + 4 * b, offset);
            h2 = BlockAccumulate<TBlock>(h2, o2, dbv, mb + scaleFloats, a2 + so + 4 * b, a2 + mo + 4 * b, offset);
            f3 = BlockAccumulate<TBlock>(f3, e3, da, mb, a3 + so + 4 * b, a3 + mo + 4 * b, offset);
            h3 = BlockAccumulate<TBlock>(h3, o3, dbv, mb + scaleFloats, a3 + so + 4 * b, a3 + mo + 4 * b, offset);
        }
        Avx.Store(y, f0); Avx.Store(y + PanelRows, h0);
        Avx.Store(y + yStride, f1); Avx.Store(y + yStride + PanelRows, h1);
        Avx.Store(y + 2 * yStride, f2); Avx.Store(y + 2 * yStride + PanelRows, h2);
        Avx.Store(y + 3 * yStride, f3); Avx.Store(y + 3 * yStride + PanelRows, h3);
    }

    /// <summary>Eight rows × one token (the batch's last tokens when it is not a multiple of four).</summary>
    private static void Panel1<TBlock>(int g, int blocks, ActivationLayout layout, int offset, byte* packed, float* d, float* m, byte* xq, float* y)
        where TBlock : struct, IBlockDot
    {
        var f = Vector256<float>.Zero;
        byte* wq = packed;
        for (int b = 0; b < blocks; b++)
        {
            var e = Vector256<int>.Zero;
            var o = Vector256<int>.Zero;
            int k = b * g;
            for (int j = 0; j < g; j += 8, wq += 64)
            {
                e = DotU8S8(e, Avx.LoadVector256(wq), Vector256.Create(*(int*)(xq + k + j)).AsSByte());
                o = DotU8S8(o, Avx.LoadVector256(wq + 32), Vector256.Create(*(int*)(xq + k + j + 4)).AsSByte());
            }
            f = BlockAccumulate<TBlock>(f, Avx2.Add(e, o), Avx.LoadVector256(d + b * PanelRows), m + b * PanelRows,
                xq + layout.ScaleOffset(b), xq + layout.SumOffset(b), offset);
        }
        Avx.Store(y, f);
    }

    /// <summary>
    /// acc + dw·dx·(Σ q·a − offset·Σa) [+ m·dx·Σa] for eight rows of one block and one token: the
    /// integer block sums are exact, as in <see cref="DotFastCore{TBlock}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockAccumulate<TBlock>(Vector256<float> acc, Vector256<int> isum, Vector256<float> dw, float* m, byte* scale, byte* sum, int offset)
        where TBlock : struct, IBlockDot
    {
        float dx = *(float*)scale;
        int sa = *(int*)sum;
        if (offset != 0) isum = Avx2.Subtract(isum, Vector256.Create(sa * offset));
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(isum), Avx.Multiply(dw, Vector256.Create(dx)), acc);
        if (TBlock.HasMin) acc = Fma.MultiplyAdd(Avx.LoadVector256(m), Vector256.Create(dx * sa), acc);
        return acc;
    }
}
