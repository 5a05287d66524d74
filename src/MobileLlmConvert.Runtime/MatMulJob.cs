using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Y_i[batch, rows_i] = X[batch, cols] · W_iᵀ for up to <see cref="MaxOutputs"/> matrices that read the
/// same input (Q, K and V; gate and up), dispatched to the pool as one job so the threads wake once
/// per input instead of once per matrix. Output rows are split across parts in tiles; each part
/// reads its weight rows once for the whole batch. Allocation-free: buffers are the run state's.
/// </summary>
internal sealed unsafe class MatMulJob : IParallelJob
{
    public const int MaxOutputs = 3;

    /// <summary>Parts per thread: more parts than threads lets a core that is not stolen pick up the slack.</summary>
    private const int PartsPerThread = 4;

    private readonly WorkerPool _pool;
    private readonly QuantPath _path;
    private readonly float[][] _scratch;          // per worker, [TileRows * maxCols]
    private readonly byte*[] _xqBuffers;          // per output slot, [maxBatch * maxActivationBytes]
    private readonly WeightMatrix?[] _w = new WeightMatrix?[MaxOutputs];
    private readonly float*[] _y = new float*[MaxOutputs];
    private readonly int[] _yStride = new int[MaxOutputs];
    private readonly byte*[] _xq = new byte*[MaxOutputs];
    private readonly int[] _xqStride = new int[MaxOutputs];
    private readonly int[] _unitStart = new int[MaxOutputs + 1];
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

    public void Add(WeightMatrix w, float* y, int yStride)
    {
        if (_count == MaxOutputs) throw new InvalidOperationException("too many outputs in one matmul job");
        _w[_count] = w;
        _y[_count] = y;
        _yStride[_count] = yStride;
        _count++;
    }

    /// <summary>Quantizes the input once per weight type (fast path), then runs every row on the pool.</summary>
    public void Run()
    {
        int units = 0;
        for (int i = 0; i < _count; i++)
        {
            var w = _w[i]!;
            _unitStart[i] = units;
            units += (w.Rows + WeightMatrix.TileRows - 1) / WeightMatrix.TileRows;
            _xq[i] = null;
            if (!w.IsQuantized || _path != QuantPath.Fast) continue;
            int stride = QuantOps.ActivationBytes(w.Type, w.Cols);
            _xqStride[i] = stride;
            for (int j = 0; j < i; j++)
            {
                if (_xq[j] != null && _w[j]!.Type == w.Type) { _xq[i] = _xq[j]; break; }
            }
            if (_xq[i] != null) continue;
            _xq[i] = _xqBuffers[i];
            for (int s = 0; s < _batch; s++)
            {
                QuantOps.QuantizeActivations(w.Type, new ReadOnlySpan<float>(_x + (long)s * _xStride, w.Cols),
                    new Span<byte>(_xq[i] + (long)s * stride, stride));
            }
        }
        _unitStart[_count] = units;
        int parts = Math.Min(units, _pool.Threads == 1 ? 1 : _pool.Threads * PartsPerThread);
        _pool.Run(this, parts);
    }

    public void Execute(int part, int parts, int worker)
    {
        int total = _unitStart[_count];
        int u0 = (int)((long)total * part / parts);
        int u1 = (int)((long)total * (part + 1) / parts);
        var scratch = _scratch[worker].AsSpan();
        for (int i = 0; i < _count && u0 < u1; i++)
        {
            int a = Math.Max(u0, _unitStart[i]);
            int b = Math.Min(u1, _unitStart[i + 1]);
            if (a >= b) continue;
            var w = _w[i]!;
            int r0 = (a - _unitStart[i]) * WeightMatrix.TileRows;
            int r1 = Math.Min(w.Rows, (b - _unitStart[i]) * WeightMatrix.TileRows);
            w.MultiplyRows(r0, r1, _x, _xStride, _batch, _xq[i], _xqStride[i], _y[i], _yStride[i], scratch, _path);
        }
    }
}
