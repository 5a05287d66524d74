using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Y_i[batch, rows_i] = X[batch, cols] · W_iᵀ for up to <see cref="MaxOutputs"/> matrices that read the
/// same input (Q, K and V; gate and up), dispatched to the pool as one job so the threads wake once
/// per input instead of once per matrix. Output rows are split across parts in units of
/// <see cref="UnitRows"/>; each part reads its weight rows once for the whole batch. Allocation-free:
/// buffers are the run state's.
/// <para>
/// Use: <see cref="Begin"/>, <see cref="Add"/> per matrix, <see cref="Plan"/>, then the input rows are
/// written and each one quantized with <see cref="QuantizeRow"/> (by a <see cref="RowJob"/>, so a
/// batch's rows are quantized on every thread), then <see cref="Run"/>. An output given a residual
/// has its rows added into it by the part that computed them (the O and down projections' residual
/// add), so no serial pass over the batch follows the job.
/// </para>
/// </summary>
internal sealed unsafe class MatMulJob : IParallelJob
{
    public const int MaxOutputs = 3;

    /// <summary>
    /// Output rows per unit of work. 16 f32 outputs fill one 64-byte cache line, so two parts never
    /// write the same line of Y (no false sharing between the threads' column strips of a batch), and
    /// it is a multiple of the prefill panel (QuantPanelAvx2: 8 rows, two side by side) and of
    /// <see cref="WeightMatrix.TileRows"/>, so no part leaves rows to a narrower kernel.
    /// </summary>
    public const int UnitRows = 16;

    /// <summary>Parts per thread: more parts than threads lets a core that is not stolen pick up the slack.</summary>
    private const int PartsPerThread = 4;

    private readonly WorkerPool _pool;
    private readonly QuantPath _path;
    private readonly float[][] _scratch;          // per worker, [TileRows * maxCols]
    private readonly byte*[] _xqBuffers;          // per output slot, [maxBatch * maxActivationBytes]
    private readonly WeightMatrix?[] _w = new WeightMatrix?[MaxOutputs];
    private readonly float*[] _y = new float*[MaxOutputs];
    private readonly float*[] _residual = new float*[MaxOutputs];
    private readonly int[] _yStride = new int[MaxOutputs];
    private readonly byte*[] _xq = new byte*[MaxOutputs];
    private readonly bool[] _quantizes = new bool[MaxOutputs];
    private readonly int[] _xqStride = new int[MaxOutputs];
    private readonly int[] _unitStart = new int[MaxOutputs + 1];
    private readonly long[] _costStart = new long[MaxOutputs + 1];
    private int _count;
    private float* _x;
    private int _xStride;
    private int _batch;

    public MatMulJob(WorkerPool pool, QuantPath path, float[][] scratch, byte*[] xqBuffers)
    {
        _pool = pool;
        _path = path;
        _scratch = scratch;
        _xqBuffers = xqBuffers;
    }

    public void Begin(float* x, int xStride, int batch)
    {
        _x = x;
        _xStride = xStride;
        _batch = batch;
        _count = 0;
    }

    /// <summary>Adds W·x → y; with <paramref name="residual"/> (same stride as y), residual += y for the rows computed.</summary>
    public void Add(WeightMatrix w, float* y, int yStride, float* residual = null)
    {
        if (_count == MaxOutputs) throw new InvalidOperationException("too many outputs in one matmul job");
        _w[_count] = w;
        _y[_count] = y;
        _yStride[_count] = yStride;
        _residual[_count] = residual;
        _count++;
    }

    /// <summary>
    /// Splits the rows into units and picks each output's activation buffer: matrices of one type share
    /// the input's quantization (fast path). Units are weighted by their bytes, so a part of a mixed-type
    /// group (Q4_K next to Q6_K) streams as many bytes as any other.
    /// </summary>
    public void Plan()
    {
        int units = 0;
        long cost = 0;
        for (int i = 0; i < _count; i++)
        {
            var w = _w[i]!;
            _unitStart[i] = units;
            _costStart[i] = cost;
            int u = (w.Rows + UnitRows - 1) / UnitRows;
            units += u;
            cost += (long)u * UnitRows * w.RowBytes;
            _xq[i] = null;
            _quantizes[i] = false;
            if (!w.IsQuantized || _path != QuantPath.Fast) continue;
            _xqStride[i] = QuantOps.ActivationBytes(w.Type, w.Cols);
            for (int j = 0; j < i; j++)
            {
                if (_xq[j] != null && _w[j]!.Type == w.Type) { _xq[i] = _xq[j]; break; }
            }
            if (_xq[i] != null) continue;
            _xq[i] = _xqBuffers[i];
            _quantizes[i] = true;
        }
        _unitStart[_count] = units;
        _costStart[_count] = cost;
    }

    /// <summary>Quantizes input row <paramref name="s"/> once per weight type (fast path; nothing otherwise). Rows are independent: any thread may take any row.</summary>
    public void QuantizeRow(int s)
    {
        for (int i = 0; i < _count; i++)
        {
            if (!_quantizes[i]) continue;
            var w = _w[i]!;
            int stride = _xqStride[i];
            QuantOps.QuantizeActivations(w.Type, new ReadOnlySpan<float>(_x + (long)s * _xStride, w.Cols),
                new Span<byte>(_xq[i] + (long)s * stride, stride));
        }
    }

    /// <summary>Runs every row on the pool; every input row must have been through <see cref="QuantizeRow"/>.</summary>
    public void Run()
    {
        int parts = Math.Min(_unitStart[_count], _pool.Threads == 1 ? 1 : _pool.Threads * PartsPerThread);
        _pool.Run(this, parts);
    }

    public void Execute(int part, int parts, int worker)
    {
        int u0 = UnitAt(part, parts), u1 = UnitAt(part + 1, parts);
        var scratch = _scratch[worker].AsSpan();
        for (int i = 0; i < _count && u0 < u1; i++)
        {
            int a = Math.Max(u0, _unitStart[i]);
            int b = Math.Min(u1, _unitStart[i + 1]);
            if (a >= b) continue;
            var w = _w[i]!;
            int r0 = (a - _unitStart[i]) * UnitRows;
            int r1 = Math.Min(w.Rows, (b - _unitStart[i]) * UnitRows);
            w.MultiplyRows(r0, r1, _x, _xStride, _batch, _xq[i], _xqStride[i], _y[i], _yStride[i], scratch, _path);
            if (_residual[i] == null) continue;
            for (int s = 0; s < _batch; s++)
            {
                long o = (long)s * _yStride[i] + r0;
                var res = new Span<float>(_residual[i] + o, r1 - r0);
                TensorPrimitives.Add(res, new ReadOnlySpan<float>(_y[i] + o, r1 - r0), res);
            }
        }
    }

    /// <summary>First unit of part <paramref name="part"/>: the unit where the running byte count reaches part/parts of the total.</summary>
    private int UnitAt(int part, int parts)
    {
        if (part >= parts) return _unitStart[_count];
        long target = (long)((Int128)_costStart[_count] * part / parts);
        int i = 0;
        while (i + 1 < _count && _costStart[i + 1] <= target) i++;
        long unitCost = (long)UnitRows * _w[i]!.RowBytes;
        int u = _unitStart[i] + (int)((target - _costStart[i] + unitCost - 1) / unitCost);
        return Math.Min(u, _unitStart[i + 1]);
    }
}
