using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// Quantize, dequantize and dot products for every quantized row of the element-type table; the
/// kernels the executor calls. Results agree with <see cref="QuantOpsNaive"/> (the scalar reference):
/// <see cref="Quantize(ElementType, ReadOnlySpan{float}, Span{byte})"/>, <see cref="Dequantize"/> and <see cref="QuantizeActivations"/> bit for bit,
/// <see cref="DotExact"/> and <see cref="DotFast"/> up to f32 summation order (the per-block integer
/// sums of the fast path are identical). Every call checks its spans once and allocates nothing.
/// <para>
/// Exact path: f32 activations times weights dequantized on the fly in registers.
/// Fast path: the activation row is quantized once per matrix multiply (<see cref="QuantizeActivations"/>,
/// <see cref="ActivationBytes"/> bytes, layout <see cref="ActivationLayout"/>), then each row is an
/// integer dot product per block (AVX-VNNI vpdpbusd where present, else AVX2 vpmaddubsw + vpmaddwd)
/// scaled by the two block scales, as llama.cpp's q8_0 x q8_0 and ONNX Runtime's accuracy level 4 do.
/// Without AVX2 both paths fall back to the scalar reference.
/// </para>
/// </summary>
public static class QuantOps
{
    static QuantOps() => QuantBlocks.AssertSizes();

    /// <summary>True when the SIMD kernels run (<see cref="QuantIsa.Current"/> is AVX2 or above); false means the scalar reference runs.</summary>
    public static bool IsAccelerated => QuantIsa.Current >= QuantIsaLevel.Avx2;

    /// <summary>Which integer dot instructions the fast path uses on this thread, for bench output.</summary>
    public static string FastPathInstructions => QuantIsa.Current switch
    {
        QuantIsaLevel.Scalar => "scalar",
        QuantIsaLevel.Avx512 when QuantKernelsAvx512.IsSupported => AvxVnni.IsSupported ? "avx512bw+avx-vnni" : "avx512bw+avx2",
        _ => AvxVnni.IsSupported ? "avx-vnni" : "avx2",
    };

    /// <summary>Whether the type's block struct brings its own AVX2 row kernel and this thread runs AVX2 (Q5_0, Q5_1, Q4_K).</summary>
    private static bool StructRows(ElementTypeInfo info) => IsAccelerated && info.Kernel!.HasDotRowAvx2;

    /// <summary>
    /// Whether the 512-bit row kernel takes this row (decode: <see cref="DotFast"/>, <see cref="DotFastRows"/>)
    /// when the multi-row kernel (<see cref="QuantRowsAvx2"/>) does not.
    /// </summary>
    private static bool Avx512Rows(ElementTypeInfo info, int blocks) =>
        QuantIsa.Current == QuantIsaLevel.Avx512 && QuantKernelsAvx512.IsSupported && QuantKernelsAvx512.Supports(info, blocks);

    /// <summary>
    /// Quantizes whole blocks with ggml's reference rounding (conversion time, not a hot path: it is the
    /// scalar reference itself, so there is one definition of the bytes we write).
    /// </summary>
    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst) => QuantOpsNaive.Quantize(type, src, dst);

    /// <summary>Quantizes whole blocks with the given rounding (<see cref="QuantRounding.Search"/> is the policy default).</summary>
    /// <remarks>The bytes are <see cref="QuantOpsNaive"/>'s; the symmetric types' search runs sixteen blocks at a time on AVX-512 (<see cref="QuantKernel.QuantizeFast"/>).</remarks>
    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, src.Length);
        QuantChecks.Bytes(info, dst.Length, blocks, nameof(dst));
        info.Kernel!.QuantizeFast(src, dst[..(blocks * info.BlockBytes)], rounding);
    }

    /// <summary>Quantizes one weight row, the search weighted by <paramref name="importance"/> (one value per column; empty = none).</summary>
    public static void Quantize(ElementType type, ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding, ReadOnlySpan<float> importance)
    {
        if (importance.IsEmpty || rounding == QuantRounding.Rtn) Quantize(type, src, dst, rounding);
        else QuantOpsNaive.Quantize(type, src, dst, rounding, importance);
    }

    /// <summary>
    /// Whether this type runs on the shared AVX2 kernels here. The int8 / int4 families (groups 32-128) do;
    /// Q5_0, Q5_1 and Q4_K bring their own AVX2 row kernel (<see cref="StructRows"/>) for the fast path
    /// and otherwise, like Q6_K, run their block struct's scalar kernel.
    /// </summary>
    private static bool Simd(ElementTypeInfo info) => IsAccelerated && QuantKernelsAvx2.Supports(info.Kind);

    /// <summary>Dequantizes <c>dst.Length</c> values (whole blocks) from <paramref name="src"/>.</summary>
    public static unsafe void Dequantize(ElementType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, dst.Length);
        QuantChecks.Bytes(info, src.Length, blocks, nameof(src));
        if (!Simd(info))
        {
            QuantOpsNaive.Dequantize(type, src, dst);
            return;
        }
        fixed (byte* s = src)
        fixed (float* y = dst)
        {
            QuantKernelsAvx2.Dequantize(info, s, y, blocks);
        }
    }

    /// <summary>Exact path: Σ x[i]·w[i] over <c>x.Length</c> values, the row's blocks dequantized in registers.</summary>
    public static unsafe float DotExact(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, x.Length);
        QuantChecks.Bytes(info, row.Length, blocks, nameof(row));
        if (!Simd(info)) return QuantOpsNaive.DotExact(type, row, x);
        fixed (byte* w = row)
        fixed (float* xp = x)
        {
            return QuantKernelsAvx2.DotExact(info, w, xp, blocks);
        }
    }

    /// <summary>Bytes of one activation row of <paramref name="cols"/> values quantized for <see cref="DotFast"/>: (g + 8) per block.</summary>
    public static int ActivationBytes(ElementType type, int cols)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, cols);
        return checked(blocks * (info.BlockValues + 8));
    }

    /// <summary>
    /// Quantizes one activation row to int8 blocks of the weight's group size as ggml does (multiplier
    /// 127/amax, round half to even, scale amax/127 stored as an f16 value, plus each block's integer
    /// sum); layout <see cref="ActivationLayout"/>.
    /// </summary>
    public static unsafe void QuantizeActivations(ElementType type, ReadOnlySpan<float> x, Span<byte> xq)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, x.Length);
        var layout = new ActivationLayout(info.BlockValues, blocks);
        QuantChecks.Activations(layout, xq.Length);
        if (!IsAccelerated)
        {
            QuantOpsNaive.QuantizeActivations(type, x, xq);
            return;
        }
        fixed (float* xp = x)
        fixed (byte* q = xq)
        {
            QuantKernelsAvx2.QuantizeActivations(layout, xp, q);
        }
    }

    /// <summary>Fast path: one row of packed weight blocks times activations from <see cref="QuantizeActivations"/>.</summary>
    public static unsafe float DotFast(ElementType type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> xq)
    {
        var info = QuantChecks.Require(type);
        var layout = ActivationLayout.FromBytes(info, xq.Length);
        QuantChecks.Bytes(info, row.Length, layout.Blocks, nameof(row));
        if (!Simd(info) && !StructRows(info)) return QuantOpsNaive.DotFast(type, row, xq);
        fixed (byte* w = row)
        fixed (byte* a = xq)
        {
            if (StructRows(info))
            {
                float y;
                info.Kernel!.DotRowsAvx2(w, 0, 1, a, layout.Blocks, &y);
                return y;
            }
            if (QuantRowsAvx2.Supports(info, row.Length))
            {
                // The multi-row kernel with one row, so a row's value is the same through either entry point.
                float y;
                QuantRowsAvx2.DotFastRows(info, w, 0, 1, a, layout.Blocks, &y);
                return y;
            }
            if (Avx512Rows(info, layout.Blocks))
            {
                float y;
                QuantKernelsAvx512.DotFastRows(info, w, 0, 1, a, layout.Blocks, &y);
                return y;
            }
            return QuantKernelsAvx2.DotFast(info, w, a, layout.Blocks);
        }
    }

    /// <summary>
    /// Fast path over consecutive rows: y[r] = DotFast(rows[r·rowBytes ..], xq) for r &lt; y.Length.
    /// One argument check and one dispatch for the whole range, so a worker calls it once per tile.
    /// <paramref name="rowBytes"/> is the stride between rows (at least one row of blocks).
    /// </summary>
    public static unsafe void DotFastRows(ElementType type, ReadOnlySpan<byte> rows, int rowBytes, ReadOnlySpan<byte> xq, Span<float> y)
    {
        var info = QuantChecks.Require(type);
        var layout = ActivationLayout.FromBytes(info, xq.Length);
        CheckRows(info, rows.Length, rowBytes, layout.Blocks, y.Length);
        if (!Simd(info) && !StructRows(info))
        {
            for (int r = 0; r < y.Length; r++) y[r] = QuantOpsNaive.DotFast(type, rows.Slice(r * rowBytes, rowBytes), xq);
            return;
        }
        fixed (byte* w = rows)
        fixed (byte* a = xq)
        fixed (float* yp = y)
        {
            if (StructRows(info))
            {
                info.Kernel!.DotRowsAvx2(w, rowBytes, y.Length, a, layout.Blocks, yp);
                return;
            }
            // Eight rows per pass (int8 / int4 kinds): ahead of the 512-bit per-row kernel, which it
            // outran at every group size (bench/kernels.sh: 1.3-1.9x at g = 64 and 128).
            if (QuantRowsAvx2.Supports(info, rowBytes))
            {
                QuantRowsAvx2.DotFastRows(info, w, rowBytes, y.Length, a, layout.Blocks, yp);
                return;
            }
            if (Avx512Rows(info, layout.Blocks))
            {
                QuantKernelsAvx512.DotFastRows(info, w, rowBytes, y.Length, a, layout.Blocks, yp);
                return;
            }
            for (int r = 0; r < y.Length; r++) yp[r] = QuantKernelsAvx2.DotFast(info, w + (long)r * rowBytes, a, layout.Blocks);
        }
    }

    /// <summary>
    /// Fast path for a batch of tokens (prefill): y[s·yStride + r] = DotFast(row r, token s) for
    /// r &lt; <paramref name="rowCount"/> and s &lt; <paramref name="batch"/>. Row r starts at r·rowBytes in
    /// <paramref name="rows"/>; token s's quantized activations (<see cref="ActivationBytes"/> for
    /// <paramref name="cols"/>) start at s·xqStride in <paramref name="xq"/> (a multiple of 4). 4-bit rows
    /// (and 8-bit rows with VNNI) are unpacked once per call in panels of eight rows that yield eight
    /// outputs per instruction; the rest are read once per four tokens. Integer block sums equal <see cref="DotFast"/>'s;
    /// the f32 results agree with it up to summation order.
    /// </summary>
    public static unsafe void DotFastTile(ElementType type, int cols, ReadOnlySpan<byte> rows, int rowBytes, int rowCount,
        ReadOnlySpan<byte> xq, int xqStride, int batch, Span<float> y, int yStride)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, cols);
        int act = ActivationBytes(type, cols);
        if (rowCount < 0 || batch < 0) throw new ArgumentException($"row count {rowCount} and batch {batch} must not be negative");
        if (rowCount == 0 || batch == 0) return;
        CheckRows(info, rows.Length, rowBytes, blocks, rowCount);
        if (xqStride < act || xqStride % 4 != 0)
            throw new ArgumentException($"activation stride {xqStride} must be a multiple of 4 and at least {act} bytes");
        if ((long)(batch - 1) * xqStride + act > xq.Length)
            throw new ArgumentException($"{batch} tokens of stride {xqStride} need {(long)(batch - 1) * xqStride + act} activation bytes, span has {xq.Length}");
        if (yStride < rowCount || (long)(batch - 1) * yStride + rowCount > y.Length)
            throw new ArgumentException($"output of {batch} x {rowCount} with stride {yStride} does not fit {y.Length} floats");
        if (StructRows(info))
        {
            // The struct's row kernel once per token: these types have no panel kernel yet.
            fixed (byte* w = rows)
            fixed (byte* a = xq)
            fixed (float* yp = y)
            {
                for (int s = 0; s < batch; s++) info.Kernel!.DotRowsAvx2(w, rowBytes, rowCount, a + (long)s * xqStride, blocks, yp + (long)s * yStride);
            }
            return;
        }
        if (!Simd(info))
        {
            for (int s = 0; s < batch; s++)
            {
                var xs = xq.Slice(s * xqStride, act);
                for (int r = 0; r < rowCount; r++) y[s * yStride + r] = QuantOpsNaive.DotFast(type, rows.Slice(r * rowBytes, blocks * info.BlockBytes), xs);
            }
            return;
        }
        fixed (byte* w = rows)
        fixed (byte* a = xq)
        fixed (float* yp = y)
        {
            QuantKernelsAvx2.DotFastTile(info, w, rowBytes, rowCount, a, xqStride, batch, blocks, yp, yStride);
        }
    }

    /// <summary>Rows per packed panel (<see cref="PackPanels"/>).</summary>
    internal const int PanelRows = QuantRowsAvx2.Rows;

    /// <summary>Whether <see cref="PackPanels"/> and <see cref="DotFastPanels"/> run for this type on this thread (AVX2, the int8 / int4 kinds, repack not turned off).</summary>
    internal static bool CanPackPanels(ElementType type)
    {
        var info = type.Info();
        return info.IsQuantized && IsAccelerated && QuantRowsAvx2.PackEnabled && QuantRowsAvx2.Supports(info, 0);
    }

    /// <summary>
    /// Packs <paramref name="panels"/> groups of <see cref="PanelRows"/> rows of <paramref name="cols"/>
    /// values (<paramref name="rowBytes"/> apart) into interleaved panels for <see cref="DotFastPanels"/>;
    /// <paramref name="dst"/> needs panels · 8 rows of whole blocks. Load time, once per stored matrix.
    /// </summary>
    internal static unsafe void PackPanels(ElementType type, ReadOnlySpan<byte> rows, int rowBytes, int cols, int panels, Span<byte> dst)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, cols);
        if (!CanPackPanels(type)) throw new ArgumentException($"{info.Name}: no panel layout on this thread");
        if (panels < 0) throw new ArgumentException($"panel count {panels} must not be negative");
        CheckRows(info, rows.Length, rowBytes, blocks, checked(panels * PanelRows));
        QuantChecks.Bytes(info, dst.Length, checked(panels * PanelRows * blocks), nameof(dst));
        if (panels == 0) return;
        fixed (byte* s = rows)
        fixed (byte* d = dst)
        {
            QuantRowsAvx2.Pack(info, s, rowBytes, panels, blocks, d);
        }
    }

    /// <summary>
    /// Fast path over packed panels (<see cref="PackPanels"/>): y[r] for the panels' 8 · <c>y.Length / 8</c>
    /// rows, bit for bit what <see cref="DotFastRows"/> gives on the same rows unpacked.
    /// </summary>
    internal static unsafe void DotFastPanels(ElementType type, ReadOnlySpan<byte> packed, int cols, ReadOnlySpan<byte> xq, Span<float> y)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, cols);
        var layout = ActivationLayout.FromBytes(info, xq.Length);
        if (layout.Blocks != blocks) throw new ArgumentException($"activations hold {layout.Blocks} blocks, rows {blocks}");
        if (!CanPackPanels(type)) throw new ArgumentException($"{info.Name}: no panel layout on this thread");
        if (y.Length % PanelRows != 0) throw new ArgumentException($"{y.Length} outputs are not whole panels of {PanelRows} rows");
        int panels = y.Length / PanelRows;
        QuantChecks.Bytes(info, packed.Length, checked(panels * PanelRows * blocks), nameof(packed));
        if (panels == 0) return;
        fixed (byte* w = packed)
        fixed (byte* a = xq)
        fixed (float* yp = y)
        {
            QuantRowsAvx2.DotFastPanels(info, w, panels, a, blocks, yp);
        }
    }

    /// <summary>Exact path over consecutive rows: y[r] = DotExact(rows[r·rowBytes ..], x) for r &lt; y.Length.</summary>
    public static unsafe void DotExactRows(ElementType type, ReadOnlySpan<byte> rows, int rowBytes, ReadOnlySpan<float> x, Span<float> y)
    {
        var info = QuantChecks.Require(type);
        int blocks = QuantChecks.Blocks(info, x.Length);
        CheckRows(info, rows.Length, rowBytes, blocks, y.Length);
        if (!Simd(info))
        {
            for (int r = 0; r < y.Length; r++) y[r] = QuantOpsNaive.DotExact(type, rows.Slice(r * rowBytes, rowBytes), x);
            return;
        }
        fixed (byte* w = rows)
        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            for (int r = 0; r < y.Length; r++) yp[r] = QuantKernelsAvx2.DotExact(info, w + (long)r * rowBytes, xp, blocks);
        }
    }

    private static void CheckRows(ElementTypeInfo info, int bytes, int rowBytes, int blocks, int rows)
    {
        long need = (long)blocks * info.BlockBytes;
        if (rowBytes < need) throw new ArgumentException($"row stride {rowBytes} is less than one row of {blocks} {info.Name} blocks ({need} bytes)");
        if (rows > 0 && (long)(rows - 1) * rowBytes + need > bytes)
            throw new ArgumentException($"{rows} rows of stride {rowBytes} need {(long)(rows - 1) * rowBytes + need} bytes, span has {bytes}");
    }

    /// <summary>
    /// f16 bits -> f32 for every pattern, one load per block scale in the hot loops (ggml keeps the same
    /// table). Pinned for the life of the process, so kernels hold a raw pointer to it in a register
    /// instead of reloading the array reference from a static field in every block.
    /// </summary>
    internal static readonly unsafe float* HalfTable = BuildHalfTable();

    private static unsafe float* BuildHalfTable()
    {
        var table = GC.AllocateUninitializedArray<float>(65536, pinned: true);
        for (int i = 0; i < table.Length; i++) table[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        s_halfTableRoot = table;
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(table));
    }

    /// <summary>Keeps the pinned table reachable (a pinned array is only kept alive by references to it).</summary>
    private static float[]? s_halfTableRoot;

    /// <summary>The f16 at <paramref name="p"/> as f32, through <paramref name="table"/> (<see cref="HalfTable"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe float Half(float* table, byte* p) => table[*(ushort*)p];
}
