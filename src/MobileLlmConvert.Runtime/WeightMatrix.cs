using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// One stored matrix [rows, cols] (Hugging Face [out, in]) that the executor computes from in place:
/// F32 rows are used as they are, F16/BF16 rows are converted in registers for one token and a tile
/// at a time into per-worker scratch for a batch, quantized rows go through QuantOps block by block.
/// The whole matrix is never expanded to f32. Steps that share a tensor key share one instance.
/// </summary>
internal sealed unsafe class WeightMatrix
{
    /// <summary>Rows converted together for float types: the tile is reused by every token of a batch.</summary>
    public const int TileRows = 4;

    private readonly TensorSource _source;
    /// <summary>f16 only: one byte per row, whether it holds an infinity or NaN (FloatKernels.DotF16Rows fills it on first use).</summary>
    private readonly byte[]? _rowState;

    /// <summary>
    /// Whole groups of eight rows repacked into interleaved panels for the decode kernel
    /// (QuantOps.PackPanels), made on the first one-token fast-path multiply and kept for the life of
    /// the matrix (anonymous memory the size of those rows; the mapped bytes stay the source for
    /// everything else). Null until made, or when this matrix has none.
    /// </summary>
    private byte[]? _panels;
    private bool _panelsDecided;
    private readonly Lock _panelsLock = new();

    public string Name { get; }
    public ElementType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int RowBytes { get; }
    public bool IsQuantized { get; }

    public WeightMatrix(Tensor tensor)
    {
        if (tensor.Shape.Length != 2) throw new ArgumentException($"tensor {tensor.Name}: expected a matrix, shape {Shapes.Format(tensor.Shape)}");
        Name = tensor.Name;
        Type = tensor.Type;
        Rows = tensor.Rows;
        Cols = tensor.Columns;
        var info = Type.Info();
        IsQuantized = info.IsQuantized;
        RowBytes = checked(Cols / info.BlockValues * info.BlockBytes);
        // Mapped and in-memory sources are zero-copy views. A computed source (a lazy pass result) would
        // be recomputed on every read, so it is materialized once here.
        _source = tensor.Source.TryGetSpan(out _) ? tensor.Source : new MemorySource(tensor.Source.ToArray());
        if (Type == ElementType.F16) _rowState = new byte[Rows];
    }

    private ReadOnlySpan<byte> Bytes
    {
        get
        {
            _source.TryGetSpan(out var span);
            return span;
        }
    }

    public ReadOnlySpan<byte> RowSpan(int row) => Bytes.Slice(checked(row * RowBytes), RowBytes);

    /// <summary>Dequantizes or converts one row to f32 (embedding lookup, naive reference).</summary>
    public void ReadRow(int row, Span<float> dst)
    {
        var bytes = RowSpan(row);
        if (IsQuantized) QuantOps.Dequantize(Type, bytes, dst[..Cols]);
        else FloatConvert.ToSingle(bytes, Type, dst[..Cols]);
    }

    /// <summary>The packed panels (<see cref="_panels"/>), made by the first caller; null when the matrix has no whole panel or is too large for one array.</summary>
    private byte[]? Panels()
    {
        if (Volatile.Read(ref _panelsDecided)) return _panels;
        lock (_panelsLock)
        {
            if (_panelsDecided) return _panels;
            int panels = Rows / QuantOps.PanelRows;
            long size = (long)panels * QuantOps.PanelRows * RowBytes;
            if (panels > 0 && size <= Array.MaxLength)
            {
                var packed = GC.AllocateUninitializedArray<byte>((int)size);
                QuantOps.PackPanels(Type, Bytes, RowBytes, Cols, panels, packed);
                _panels = packed;
            }
            Volatile.Write(ref _panelsDecided, true);
            return _panels;
        }
    }

    /// <summary>
    /// One token (decode) against f16 / bf16 / f32 rows [r0, r1): converted in registers inside the dot
    /// product, four rows per pass (FloatKernels.DotF16Rows and siblings), no tile. False below AVX2.
    /// </summary>
    private bool DotFloatRows(ReadOnlySpan<byte> bytes, int r0, int r1, float* x, float* y)
    {
        fixed (byte* w = bytes)
        fixed (byte* state = _rowState)
        {
            byte* rows = w + (long)r0 * RowBytes;
            return Type switch
            {
                ElementType.F16 => FloatKernels.DotF16Rows((ushort*)rows, r1 - r0, Cols, x, y + r0, state + r0),
                ElementType.BF16 => FloatKernels.DotBF16Rows((ushort*)rows, r1 - r0, Cols, x, y + r0),
                ElementType.F32 => FloatKernels.DotF32Rows((float*)rows, r1 - r0, Cols, x, y + r0),
                _ => false,
            };
        }
    }

    /// <summary>
    /// y[s, r] = dot(W[r], x[s]) for rows [r0, r1) and tokens s &lt; batch. <paramref name="xq"/> holds
    /// the batch's quantized activations (fast path only, stride <paramref name="xqStride"/>);
    /// <paramref name="scratch"/> is this worker's, at least <see cref="TileRows"/> x <see cref="Cols"/> floats.
    /// </summary>
    public void MultiplyRows(int r0, int r1, float* x, int xStride, int batch, byte* xq, int xqStride,
        float* y, int yStride, Span<float> scratch, QuantPath path)
    {
        var bytes = Bytes;
        int cols = Cols;
        if (IsQuantized && path == QuantPath.Fast)
        {
            var rows = bytes.Slice(r0 * RowBytes, (r1 - r0) * RowBytes);
            if (batch == 1)
            {
                var xq1 = new ReadOnlySpan<byte>(xq, QuantOps.ActivationBytes(Type, cols));
                int p0 = (r0 + QuantOps.PanelRows - 1) / QuantOps.PanelRows, p1 = r1 / QuantOps.PanelRows;
                if (p0 < p1 && QuantOps.CanPackPanels(Type) && Panels() is { } panels)
                {
                    // Whole panels from the packed copy; a range's ragged ends (a split off a multiple of
                    // eight, the matrix's last rows) from the mapped rows, with bit-identical results.
                    int a = p0 * QuantOps.PanelRows, b = p1 * QuantOps.PanelRows;
                    if (r0 < a) QuantOps.DotFastRows(Type, bytes.Slice(r0 * RowBytes, (a - r0) * RowBytes), RowBytes, xq1, new Span<float>(y + r0, a - r0));
                    QuantOps.DotFastPanels(Type, panels.AsSpan(a * RowBytes, (b - a) * RowBytes), cols, xq1, new Span<float>(y + a, b - a));
                    if (b < r1) QuantOps.DotFastRows(Type, bytes.Slice(b * RowBytes, (r1 - b) * RowBytes), RowBytes, xq1, new Span<float>(y + b, r1 - b));
                    return;
                }
                QuantOps.DotFastRows(Type, rows, RowBytes, xq1, new Span<float>(y + r0, r1 - r0));
            }
            else
            {
                // Prefill: each weight row is read once per group of tokens, not once per token.
                var xqAll = new ReadOnlySpan<byte>(xq, checked((batch - 1) * xqStride + QuantOps.ActivationBytes(Type, cols)));
                var yAll = new Span<float>(y + r0, checked((batch - 1) * yStride + (r1 - r0)));
                QuantOps.DotFastTile(Type, cols, rows, RowBytes, r1 - r0, xqAll, xqStride, batch, yAll, yStride);
            }
            return;
        }
        if (IsQuantized && batch == 1)
        {
            // One token (decode): dequantize on the fly inside the dot product, nothing to amortize.
            QuantOps.DotExactRows(Type, bytes.Slice(r0 * RowBytes, (r1 - r0) * RowBytes), RowBytes,
                new ReadOnlySpan<float>(x, cols), new Span<float>(y + r0, r1 - r0));
            return;
        }
        if (batch == 1 && !IsQuantized && DotFloatRows(bytes, r0, r1, x, y)) return;
        if (Type == ElementType.F32)
        {
            fixed (byte* w = bytes)
            {
                for (int t0 = r0; t0 < r1; t0 += TileRows)
                {
                    int n = Math.Min(TileRows, r1 - t0);
                    FloatKernels.Multiply((float*)w + (long)t0 * cols, n, cols, x, xStride, batch, y + t0, yStride);
                }
            }
            return;
        }
        // F16 / BF16, and quantized rows on the exact path with a batch: convert (dequantize) a tile of
        // rows once, then reuse it for every token in the batch. Same math as DotExact (f32 activations
        // times dequantized weights), different summation order only.
        // f16 tiles of finite rows take the scaled conversion (FloatKernels.WidenF16Scaled, AVX2 and up).
        fixed (float* tile = scratch)
        fixed (byte* w = bytes)
        fixed (byte* state = _rowState)
        {
            for (int t0 = r0; t0 < r1; t0 += TileRows)
            {
                int n = Math.Min(TileRows, r1 - t0);
                var rowsBytes = bytes.Slice(t0 * RowBytes, n * RowBytes);
                float scale = 1f;
                if (Type == ElementType.F16 && FloatKernels.WidenF16Scaled((ushort*)(w + (long)t0 * RowBytes), n, cols, state + t0, tile))
                    scale = FloatKernels.F16TileScale;
                else if (IsQuantized) QuantOps.Dequantize(Type, rowsBytes, scratch[..(n * cols)]);
                else FloatConvert.ToSingle(rowsBytes, Type, scratch[..(n * cols)]);
                FloatKernels.Multiply(tile, n, cols, x, xStride, batch, y + t0, yStride, scale);
            }
        }
    }
}
