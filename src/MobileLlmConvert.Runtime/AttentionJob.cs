using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Causal softmax attention in f32 for a batch of new positions against one step's KV-cache slot.
/// Grouped-query attention without repeating K/V: query head h reads kv head h / (heads / kv_heads).
/// Work items are (position, head) pairs split across the pool; scores live in per-worker scratch.
/// </summary>
internal sealed unsafe class AttentionJob : IParallelJob
{
    private const int PartsPerThread = 4;

    /// <summary>
    /// Below this many multiply-adds (scores plus weighted values) the attention of a step runs on the
    /// caller: handing it to the pool costs more than it saves. The pool's workers poll between jobs, so
    /// a dispatch costs about a µs (not the tens of µs of waking a blocked thread) and a decode step
    /// splits its heads from a few dozen cached positions on (MobileLLM-125M: 9 heads x 64 x 2 per position),
    /// instead of leaving the second core idle for the attention of every layer.
    /// </summary>
    private const long ParallelThreshold = 1 << 15;

    private readonly WorkerPool _pool;
    private readonly float[][] _scores; // per worker, [maxContext]
    private readonly int _heads, _group, _headDim, _qWidth, _kvWidth;
    private readonly float _scale;
    private float* _q, _kCache, _vCache, _out;
    private int _pos0, _batch;

    public AttentionJob(WorkerPool pool, float[][] scores, int heads, int kvHeads, int headDim)
    {
        _pool = pool;
        _scores = scores;
        _heads = heads;
        _group = heads / kvHeads;
        _headDim = headDim;
        _qWidth = heads * headDim;
        _kvWidth = kvHeads * headDim;
        _scale = 1f / MathF.Sqrt(headDim);
    }

    /// <param name="q">[batch, heads*hd] queries, already rotated.</param>
    /// <param name="kCache">this slot's keys [maxContext, kv_heads*hd], rows up to pos0+batch filled.</param>
    /// <param name="vCache">this slot's values, same layout.</param>
    /// <param name="output">[batch, heads*hd].</param>
    /// <param name="pos0">Position of the first query row.</param>
    /// <param name="batch">Number of query rows.</param>
    public void Run(float* q, float* kCache, float* vCache, float* output, int pos0, int batch)
    {
        _q = q;
        _kCache = kCache;
        _vCache = vCache;
        _out = output;
        _pos0 = pos0;
        _batch = batch;
        int items = batch * _heads;
        long work = (long)items * (pos0 + batch) * _headDim * 2;
        if (_pool.Threads == 1 || work < ParallelThreshold) Execute(0, 1, 0);
        else _pool.Run(this, Math.Min(items, _pool.Threads * PartsPerThread));
    }

    public void Execute(int part, int parts, int worker)
    {
        int items = _batch * _heads;
        int i0 = (int)((long)items * part / parts);
        int i1 = (int)((long)items * (part + 1) / parts);
        int hd = _headDim;
        for (int item = i0; item < i1; item++)
        {
            int i = item / _heads, h = item % _heads;
            int kvOffset = h / _group * hd;
            int len = _pos0 + i + 1; // causal: position p sees 0..p
            float* qp = _q + (long)i * _qWidth + h * hd;
            var q = new ReadOnlySpan<float>(qp, hd);
            var scores = _scores[worker].AsSpan(0, len);
            bool simd = Vector256.IsHardwareAccelerated && hd % Vector256<float>.Count == 0;
            if (simd) Scores(qp, _kCache + kvOffset, _kvWidth, hd, len, _scale, scores);
            else
            {
                for (int t = 0; t < len; t++)
                    scores[t] = TensorPrimitives.Dot(q, new ReadOnlySpan<float>(_kCache + (long)t * _kvWidth + kvOffset, hd)) * _scale;
            }
            float max = TensorPrimitives.Max(scores);
            TensorPrimitives.Subtract(scores, max, scores);
            TensorPrimitives.Exp(scores, scores);
            float inv = 1f / TensorPrimitives.Sum(scores);
            float* op = _out + (long)i * _qWidth + h * hd;
            var o = new Span<float>(op, hd);
            if (simd) WeightedSum(_vCache + kvOffset, _kvWidth, hd, scores, op);
            else
            {
                o.Clear();
                for (int t = 0; t < len; t++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_vCache + (long)t * _kvWidth + kvOffset, hd), scores[t], o, o);
            }
            TensorPrimitives.Multiply(o, inv, o);
        }
    }

    /// <summary>
    /// scores[t] = (q · k_t)·scale for t &lt; scores.Length, k_t at <paramref name="k"/> + t·stride. Inline
    /// Vector256 code rather than a TensorPrimitives.Dot per key: at head widths of 64 the per-call
    /// overhead cost as much as the arithmetic. Four keys at a time, two accumulators each: one query
    /// load feeds four keys, eight independent FMA chains keep both FMA pipes busy (one chain per key
    /// waited on the FMA latency), and the four sums are reduced together by a horizontal-add tree
    /// (three vhaddps and one add give the four scores in one vector, instead of a full horizontal sum
    /// per key).
    /// </summary>
    private static void Scores(float* q, float* k, int stride, int hd, int len, float scale, Span<float> scores)
    {
        int t = 0;
        if (Avx.IsSupported && hd % 16 == 0)
        {
            var vscale = Vector128.Create(scale);
            fixed (float* sp = scores)
            {
                for (; t + 4 <= len; t += 4)
                {
                    float* k0 = k + (long)t * stride, k1 = k0 + stride, k2 = k1 + stride, k3 = k2 + stride;
                    Vector256<float> a0 = default, b0 = default, a1 = default, b1 = default;
                    Vector256<float> a2 = default, b2 = default, a3 = default, b3 = default;
                    for (int j = 0; j < hd; j += 16)
                    {
                        var qa = Vector256.Load(q + j);
                        var qb = Vector256.Load(q + j + 8);
                        a0 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k0 + j), a0);
                        a1 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k1 + j), a1);
                        a2 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k2 + j), a2);
                        a3 = Vector256.FusedMultiplyAdd(qa, Vector256.Load(k3 + j), a3);
                        b0 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k0 + j + 8), b0);
                        b1 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k1 + j + 8), b1);
                        b2 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k2 + j + 8), b2);
                        b3 = Vector256.FusedMultiplyAdd(qb, Vector256.Load(k3 + j + 8), b3);
                    }
                    // hadd(x, y) = [x0+x1, x2+x3, y0+y1, y2+y3 | x4+x5, x6+x7, y4+y5, y6+y7] per 128-bit lane,
                    // so two levels leave [Σ0..3 of each key | Σ4..7 of each key] and the lanes' sum is the four dots.
                    var h = Avx.HorizontalAdd(Avx.HorizontalAdd(a0 + b0, a1 + b1), Avx.HorizontalAdd(a2 + b2, a3 + b3));
                    ((h.GetLower() + h.GetUpper()) * vscale).Store(sp + t);
                }
            }
        }
        for (; t < len; t++)
        {
            float* kt = k + (long)t * stride;
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            int j = 0;
            for (; j + 16 <= hd; j += 16)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(q + j), Vector256.Load(kt + j), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(q + j + 8), Vector256.Load(kt + j + 8), a1);
            }
            if (j < hd) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(q + j), Vector256.Load(kt + j), a0);
            scores[t] = Vector256.Sum(a0 + a1) * scale;
        }
    }

    /// <summary>
    /// o = Σ_t scores[t]·v_t, 64 output values at a time held in eight registers across every t: eight
    /// independent FMA chains per step of t, enough to cover the FMA latency (four chains of 32 values
    /// waited on it); then 32 and 8 at a time for the rest of the head.
    /// </summary>
    private static void WeightedSum(float* v, int stride, int hd, ReadOnlySpan<float> scores, float* o)
    {
        int len = scores.Length;
        int c = 0;
        for (; c + 64 <= hd; c += 64)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> a4 = default, a5 = default, a6 = default, a7 = default;
            float* vt = v + c;
            for (int t = 0; t < len; t++, vt += stride)
            {
                var s = Vector256.Create(scores[t]);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(vt), s, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 8), s, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 16), s, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 24), s, a3);
                a4 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 32), s, a4);
                a5 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 40), s, a5);
                a6 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 48), s, a6);
                a7 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 56), s, a7);
            }
            a0.Store(o + c);
            a1.Store(o + c + 8);
            a2.Store(o + c + 16);
            a3.Store(o + c + 24);
            a4.Store(o + c + 32);
            a5.Store(o + c + 40);
            a6.Store(o + c + 48);
            a7.Store(o + c + 56);
        }
        for (; c + 32 <= hd; c += 32)
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            var a2 = Vector256<float>.Zero;
            var a3 = Vector256<float>.Zero;
            float* vt = v + c;
            for (int t = 0; t < len; t++, vt += stride)
            {
                var s = Vector256.Create(scores[t]);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(vt), s, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 8), s, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 16), s, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(vt + 24), s, a3);
            }
            a0.Store(o + c);
            a1.Store(o + c + 8);
            a2.Store(o + c + 16);
            a3.Store(o + c + 24);
        }
        for (; c < hd; c += 8)
        {
            var a = Vector256<float>.Zero;
            float* vt = v + c;
            for (int t = 0; t < len; t++, vt += stride) a = Vector256.FusedMultiplyAdd(Vector256.Load(vt), Vector256.Create(scores[t]), a);
            a.Store(o + c);
        }
    }
}
