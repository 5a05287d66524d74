using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

/// <summary>How a block's scale (and min) is chosen when quantizing weights.</summary>
public enum QuantRounding
{
    /// <summary>
    /// Choose the scale (and min) that minimises the block's squared error: a ladder of candidate scales
    /// around the round-to-nearest one, each refitted by least squares (as ggml's make_qx_quants and
    /// make_qkx2_quants do), kept only when it beats round-to-nearest on the stored f16 values.
    /// </summary>
    Search,
    /// <summary>Round to nearest from the block's extremes: ggml's reference quantizer (quantize_row_*_ref), byte for byte.</summary>
    Rtn,
}

/// <summary>
/// One quantized type's block: its layout is the struct's fields, its arithmetic the static members.
/// A type is this struct plus its row in <see cref="ElementTypes"/>; nothing else names it. Kernels
/// reach blocks through <see cref="MemoryMarshal.Cast{TFrom,TTo}(ReadOnlySpan{TFrom})"/>.
/// Activations pair with every type as int8 blocks of <see cref="BlockValues"/> values
/// (<see cref="ActivationLayout"/>: quants, one f32 scale and the int32 sum of the quants per block).
/// </summary>
public interface IQuantBlock<TSelf> where TSelf : unmanaged, IQuantBlock<TSelf>
{
    /// <summary>Values per block.</summary>
    static abstract int BlockValues { get; }

    /// <summary>Whether <see cref="QuantRounding.Search"/> differs from <see cref="QuantRounding.Rtn"/> for this type.</summary>
    static abstract bool HasSearch { get; }

    /// <summary>Quantizes <see cref="BlockValues"/> finite values into <paramref name="block"/>.</summary>
    static abstract void Quantize(ReadOnlySpan<float> x, ref TSelf block, QuantRounding rounding);

    /// <summary>
    /// Quantizes <see cref="BlockValues"/> finite values minimising the importance-weighted squared error:
    /// <paramref name="importance"/> holds one value per column of the block (mean x² of the matrix input,
    /// from a calibration text or an imatrix file), <paramref name="rowSigma2"/> the mean x² of the whole
    /// weight row (ggml's σ²). The ggml types are ports of llama.cpp's quantize_row_*_impl with
    /// quant_weights (ggml/src/ggml-quants.c), byte for byte. Default: the importance is ignored and the
    /// block is rounded to nearest, as ggml's quantize_q8_0 ignores its quant_weights.
    /// </summary>
    static virtual void QuantizeWeighted(ReadOnlySpan<float> x, ref TSelf block, ReadOnlySpan<float> importance, float rowSigma2) =>
        TSelf.Quantize(x, ref block, QuantRounding.Rtn);

    /// <summary>Writes the block's <see cref="BlockValues"/> values to <paramref name="y"/>.</summary>
    static abstract void Dequantize(in TSelf block, Span<float> y);

    /// <summary>
    /// nmax of a symmetric type whose <see cref="QuantRounding.Search"/> is <see cref="ScaleSearch.Symmetric"/>
    /// over levels −nmax..nmax−1 and whose round to nearest is ggml's d = max/−nmax,
    /// q = min(2·nmax − 1, trunc(x/d + nmax + 0.5)) (Q4_0 and its wider groups, Q5_0); 0 for every other type.
    /// Such a type's default rounding also runs sixteen blocks at a time (<see cref="SymmetricSearchSimd"/>),
    /// written through <see cref="PackSymmetric"/>.
    /// </summary>
    static virtual int SymmetricNmax => 0;

    /// <summary>
    /// A vectorised round to nearest of a whole row of blocks, byte-identical to <see cref="Quantize"/> with
    /// <see cref="QuantRounding.Rtn"/> block by block; false (nothing written) where the type has none or
    /// the row needs the scalar's edge cases. Called only on the AVX-512 level.
    /// </summary>
    static virtual bool TryQuantizeRtnRow(ReadOnlySpan<float> src, Span<byte> dst) => false;

    /// <summary>Writes a <see cref="SymmetricNmax"/> type's block from the f32 scale its f16 is rounded from and its levels q in [0, 2·nmax).</summary>
    static virtual void PackSymmetric(float d, ReadOnlySpan<int> q, ref TSelf block) =>
        throw new NotSupportedException($"{typeof(TSelf).Name} is not a symmetric searched type");

    /// <summary>
    /// Σ w·x over the block against quantized activations: <paramref name="a"/> the block's int8 quants,
    /// <paramref name="dx"/> their scale, <paramref name="sumA"/> Σ a. The integer part is exact.
    /// </summary>
    static abstract float Dot(in TSelf block, ReadOnlySpan<sbyte> a, float dx, int sumA);

    /// <summary>
    /// Whether the struct has its own AVX2 fast-path row kernel (<see cref="DotRowAvx2"/>). The int8 /
    /// int4 families do not: they share QuantKernelsAvx2 / QuantKernelsAvx512 across their group sizes.
    /// </summary>
    static virtual bool HasDotRowAvx2 => false;

    /// <summary>
    /// Σ over <paramref name="blocks"/> blocks at <paramref name="w"/> against quantized activations
    /// (<see cref="ActivationLayout"/> at <paramref name="xq"/>) with AVX2 + FMA: the same exact integer
    /// block sums as <see cref="Dot"/>, f32 summation order aside. Called only when
    /// <see cref="HasDotRowAvx2"/> and the CPU runs AVX2.
    /// </summary>
    static virtual unsafe float DotRowAvx2(byte* w, byte* xq, int blocks) => throw new NotSupportedException($"{typeof(TSelf).Name} has no AVX2 row kernel");
}

/// <summary>
/// The non-generic face of a block struct, held by its <see cref="ElementTypeInfo"/> row: every caller
/// dispatches through the table to the generic instantiation, so the JIT specialises each loop per type
/// and there is no switch on the kind (and no arm that could run one type's arithmetic on another's bytes).
/// Callers have checked that spans hold whole blocks.
/// </summary>
public abstract class QuantKernel
{
    private protected QuantKernel() { }

    public abstract void Quantize(ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding);

    /// <summary>
    /// Quantizes one weight row. With a non-empty <paramref name="importance"/> (one value per column of
    /// the row) and <see cref="QuantRounding.Search"/> each block takes the importance-weighted search;
    /// otherwise the bytes are exactly <see cref="Quantize(ReadOnlySpan{float}, Span{byte}, QuantRounding)"/>'s.
    /// </summary>
    public abstract void Quantize(ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding, ReadOnlySpan<float> importance);
    public abstract void Dequantize(ReadOnlySpan<byte> src, Span<float> dst);

    /// <summary>
    /// The same bytes as <see cref="Quantize(ReadOnlySpan{float}, Span{byte}, QuantRounding)"/>, sixteen
    /// blocks at a time where the type and the CPU allow (<see cref="SymmetricSearchSimd"/>).
    /// </summary>
    internal abstract void QuantizeFast(ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding);

    public abstract float DotExact(ReadOnlySpan<byte> row, ReadOnlySpan<float> x);
    public abstract float DotFast(ReadOnlySpan<byte> row, ReadOnlySpan<byte> xq, ActivationLayout layout);

    /// <summary>Whether the block struct has its own AVX2 row kernel (<see cref="IQuantBlock{TSelf}.HasDotRowAvx2"/>).</summary>
    internal abstract bool HasDotRowAvx2 { get; }

    /// <summary>y[r] = the struct's AVX2 row kernel over row r (<paramref name="rowBytes"/> apart); callers have checked spans and the CPU.</summary>
    internal abstract unsafe void DotRowsAvx2(byte* w, nint rowBytes, int rows, byte* xq, int blocks, float* y);
}

/// <summary>The scalar kernels of one block struct; the reference every faster path is tested against.</summary>
public sealed class QuantKernel<TBlock> : QuantKernel where TBlock : unmanaged, IQuantBlock<TBlock>
{
    private static int G => TBlock.BlockValues;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding)
    {
        var blocks = MemoryMarshal.Cast<byte, TBlock>(dst);
        int n = src.Length / G;
        Span<float> a = stackalloc float[G];
        Span<float> b = stackalloc float[G];
        for (int i = 0; i < n; i++)
        {
            var x = src.Slice(i * G, G);
            TBlock.Quantize(x, ref blocks[i], QuantRounding.Rtn);
            if (rounding == QuantRounding.Rtn || !TBlock.HasSearch) continue;
            // The search is kept only when its stored block is strictly better than round-to-nearest.
            var rtn = blocks[i];
            TBlock.Dequantize(rtn, b);
            TBlock.Quantize(x, ref blocks[i], QuantRounding.Search);
            TBlock.Dequantize(blocks[i], a);
            if (!(SquaredError(x, a) < SquaredError(x, b))) blocks[i] = rtn;
        }
    }

    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding, ReadOnlySpan<float> importance)
    {
        if (importance.IsEmpty || rounding == QuantRounding.Rtn)
        {
            Quantize(src, dst, rounding);
            return;
        }
        // No "keep round-to-nearest if better" here: the weighted search is llama-quantize's own with an
        // imatrix, and its error measure is the weighted one, which round-to-nearest does not minimise.
        var blocks = MemoryMarshal.Cast<byte, TBlock>(dst);
        int n = src.Length / G;
        float sigma2 = ScaleSearch.MeanSquare(src);
        for (int i = 0; i < n; i++) TBlock.QuantizeWeighted(src.Slice(i * G, G), ref blocks[i], importance.Slice(i * G, G), sigma2);
    }

    internal override void QuantizeFast(ReadOnlySpan<float> src, Span<byte> dst, QuantRounding rounding)
    {
        bool fast = QuantIsa.Current == QuantIsaLevel.Avx512 && SymmetricSearchSimd.IsAccelerated;
        if (fast && rounding == QuantRounding.Search && TBlock.SymmetricNmax > 0 && G <= SymmetricSearchSimd.MaxGroup)
            QuantizeSymmetricBatches(src, dst);
        else if (!(fast && (rounding == QuantRounding.Rtn || !TBlock.HasSearch) && TBlock.TryQuantizeRtnRow(src, dst)))
            Quantize(src, dst, rounding);
    }

    /// <summary>
    /// The default (searched) rounding of a <see cref="IQuantBlock{TSelf}.SymmetricNmax"/> type, batches of
    /// up to <see cref="SymmetricSearchSimd.Lanes"/> blocks (the last one partial), a declined batch
    /// through the scalar loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void QuantizeSymmetricBatches(ReadOnlySpan<float> src, Span<byte> dst)
    {
        const int lanes = SymmetricSearchSimd.Lanes;
        var blocks = MemoryMarshal.Cast<byte, TBlock>(dst);
        int n = src.Length / G, bytes = Unsafe.SizeOf<TBlock>();
        Span<float> scales = stackalloc float[lanes];
        Span<int> levels = stackalloc int[lanes * G];
        for (int first = 0; first < n; first += lanes)
        {
            int count = Math.Min(lanes, n - first);
            var x = src.Slice(first * G, count * G);
            if (!SymmetricSearchSimd.Batch(x, G, TBlock.SymmetricNmax, scales, levels))
            {
                Quantize(x, dst.Slice(first * bytes, count * bytes), QuantRounding.Search);
                continue;
            }
            for (int b = 0; b < count; b++) TBlock.PackSymmetric(scales[b], levels.Slice(b * G, G), ref blocks[first + b]);
        }
    }

    private static double SquaredError(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double e = 0;
        for (int j = 0; j < x.Length; j++)
        {
            double d = (double)y[j] - x[j];
            e += d * d;
        }
        return e;
    }

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var blocks = MemoryMarshal.Cast<byte, TBlock>(src);
        int n = dst.Length / G;
        for (int i = 0; i < n; i++) TBlock.Dequantize(blocks[i], dst.Slice(i * G, G));
    }

    public override float DotExact(ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        var blocks = MemoryMarshal.Cast<byte, TBlock>(row);
        int n = x.Length / G;
        Span<float> tmp = stackalloc float[G];
        float sum = 0;
        for (int i = 0; i < n; i++)
        {
            TBlock.Dequantize(blocks[i], tmp);
            var xs = x.Slice(i * G, G);
            for (int j = 0; j < G; j++) sum += tmp[j] * xs[j];
        }
        return sum;
    }

    internal override bool HasDotRowAvx2 => TBlock.HasDotRowAvx2;

    internal override unsafe void DotRowsAvx2(byte* w, nint rowBytes, int rows, byte* xq, int blocks, float* y)
    {
        for (int r = 0; r < rows; r++) y[r] = TBlock.DotRowAvx2(w + r * rowBytes, xq, blocks);
    }

    public override float DotFast(ReadOnlySpan<byte> row, ReadOnlySpan<byte> xq, ActivationLayout layout)
    {
        var blocks = MemoryMarshal.Cast<byte, TBlock>(row);
        var a = MemoryMarshal.Cast<byte, sbyte>(xq);
        float sum = 0;
        for (int i = 0; i < layout.Blocks; i++)
        {
            float dx = BinaryPrimitives.ReadSingleLittleEndian(xq[layout.ScaleOffset(i)..]);
            int sumA = BinaryPrimitives.ReadInt32LittleEndian(xq[layout.SumOffset(i)..]);
            sum += TBlock.Dot(blocks[i], a.Slice(i * G, G), dx, sumA);
        }
        return sum;
    }
}
