using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// The per-token work between matrix multiplies, split across the pool by token rows: RMSNorm, SwiGLU
/// and RoPE of a batch, each row followed by its activation quantization for the next multiply
/// (<see cref="MatMulJob.QuantizeRow"/>). A 128-token prefill spent about a tenth of its time in this
/// work on the caller while the other threads waited; rows are independent, so any thread may take any
/// row and the results equal the serial ones bit for bit. A single row (decode) runs inline on the
/// caller: handing a few hundred nanoseconds of work to the pool would cost more than it saves.
/// </summary>
internal sealed unsafe class RowJob : IParallelJob
{
    /// <summary>Parts per thread, as <see cref="MatMulJob"/>: a descheduled worker's rows are taken by the others.</summary>
    private const int PartsPerThread = 4;

    private enum Kind { Quantize, Norm, SwiGlu, Rope }

    private readonly WorkerPool _pool;
    private readonly Rope _rope;
    private readonly float _eps;
    private Kind _kind;
    private MatMulJob? _next;
    private float* _a, _b, _dst;
    private float[]? _weight;
    private int _width, _aWidth, _bWidth, _srcRow, _pos0, _rows;

    public RowJob(WorkerPool pool, Rope rope, float rmsNormEps)
    {
        _pool = pool;
        _rope = rope;
        _eps = rmsNormEps;
    }

    /// <summary>Quantizes <paramref name="rows"/> rows of <paramref name="next"/>'s input as they are.</summary>
    public void Quantize(MatMulJob next, int rows)
    {
        _kind = Kind.Quantize;
        _next = next;
        Dispatch(rows);
    }

    /// <summary>
    /// dst[i] = RMSNorm(src[srcRow + i]) · weight for i &lt; rows (rows of <paramref name="width"/>), each
    /// then quantized for <paramref name="next"/> (whose input is dst).
    /// </summary>
    public void Norm(float* src, int srcRow, float* dst, float[] weight, int width, int rows, MatMulJob next)
    {
        _kind = Kind.Norm;
        _a = src; _srcRow = srcRow; _dst = dst; _weight = weight; _width = width; _next = next;
        Dispatch(rows);
    }

    /// <summary>gate[i] = silu(gate[i]) · up[i] in place for rows of <paramref name="width"/>, each then quantized for <paramref name="next"/>.</summary>
    public void SwiGlu(float* gate, float* up, int width, int rows, MatMulJob next)
    {
        _kind = Kind.SwiGlu;
        _a = gate; _b = up; _width = width; _next = next;
        Dispatch(rows);
    }

    /// <summary>Rotates query row i (<paramref name="qWidth"/>) and key row i (<paramref name="kWidth"/>) for position pos0 + i.</summary>
    public void ApplyRope(float* q, int qWidth, float* k, int kWidth, int pos0, int rows)
    {
        _kind = Kind.Rope;
        _a = q; _aWidth = qWidth; _b = k; _bWidth = kWidth; _pos0 = pos0; _next = null;
        Dispatch(rows);
    }

    private void Dispatch(int rows)
    {
        _rows = rows;
        int parts = Math.Min(rows, _pool.Threads == 1 ? 1 : _pool.Threads * PartsPerThread);
        _pool.Run(this, parts);
    }

    public void Execute(int part, int parts, int worker)
    {
        int r0 = (int)((long)_rows * part / parts), r1 = (int)((long)_rows * (part + 1) / parts);
        for (int i = r0; i < r1; i++)
        {
            switch (_kind)
            {
                case Kind.Norm:
                    RmsNorm(new ReadOnlySpan<float>(_a + (long)(_srcRow + i) * _width, _width), new Span<float>(_dst + (long)i * _width, _width));
                    break;
                case Kind.SwiGlu:
                    {
                        // silu(gate) * up = gate * sigmoid(gate) * up, in the order the serial code used.
                        var g = new Span<float>(_a + (long)i * _width, _width);
                        var u = new Span<float>(_b + (long)i * _width, _width);
                        TensorPrimitives.Multiply(u, g, u);
                        TensorPrimitives.Sigmoid(g, g);
                        TensorPrimitives.Multiply(g, u, g);
                        break;
                    }
                case Kind.Rope:
                    _rope.Apply(new Span<float>(_a + (long)i * _aWidth, _aWidth), _pos0 + i);
                    _rope.Apply(new Span<float>(_b + (long)i * _bWidth, _bWidth), _pos0 + i);
                    break;
            }
            _next?.QuantizeRow(i);
        }
    }

    /// <summary>dst = src / sqrt(mean(src²) + eps) · weight, in f32 as transformers' LlamaRMSNorm.</summary>
    private void RmsNorm(ReadOnlySpan<float> src, Span<float> dst)
    {
        float ms = TensorPrimitives.SumOfSquares(src) / src.Length;
        float scale = 1f / MathF.Sqrt(ms + _eps);
        TensorPrimitives.Multiply(src, scale, dst);
        TensorPrimitives.Multiply(dst, _weight!, dst);
    }
}
