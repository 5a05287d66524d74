using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Every buffer the forward pass writes, allocated once (pinned, so workers can take pointers) for
/// <c>maxBatch</c> tokens and <c>maxContext</c> cached positions. B = maxBatch, T = maxContext,
/// L = executed steps.
/// </summary>
internal sealed unsafe class RunState
{
    public readonly float[] X;        // [B, hidden] residual stream
    public readonly float[] Xb;       // [B, hidden] normed input of a matmul
    public readonly float[] Xb2;      // [B, hidden] attention / FFN output before the residual add
    public readonly float[] Q;        // [B, heads*hd]
    public readonly float[] Att;      // [B, heads*hd] attention output
    public readonly float[] Hb;       // [B, intermediate] gate, then silu(gate)*up
    public readonly float[] Hb2;      // [B, intermediate] up
    public readonly float[] Logits;   // [vocab] logits of the last position
    public readonly float[] KeyCache;   // [L, T, kv_heads*hd]: one slot per executed step
    public readonly float[] ValueCache; // [L, T, kv_heads*hd]
    public readonly float[][] Scratch;  // per worker [TileRows * max cols]: converted weight tiles
    public readonly float[][] Scores;   // per worker [T]: attention scores
    public readonly byte*[] XqBuffers;  // per matmul output slot [B * max activation bytes]: quantized activations
    private readonly byte[][] _xq;

    public RunState(ModelConfig c, IEnumerable<WeightMatrix> matrices, int maxBatch, int maxContext, int threads)
    {
        int hidden = c.HiddenSize, qw = c.QueryWidth, inter = c.IntermediateSize;
        X = Pinned((long)maxBatch * hidden);
        Xb = Pinned((long)maxBatch * hidden);
        Xb2 = Pinned((long)maxBatch * hidden);
        Q = Pinned((long)maxBatch * qw);
        Att = Pinned((long)maxBatch * qw);
        Hb = Pinned((long)maxBatch * inter);
        Hb2 = Pinned((long)maxBatch * inter);
        Logits = Pinned(c.VocabSize);
        long cacheFloats = checked((long)c.ExecutedLayers * maxContext * c.KvWidth);
        KeyCache = Pinned(cacheFloats);
        ValueCache = Pinned(cacheFloats);

        int maxCols = 0, maxActBytes = 0;
        foreach (var m in matrices)
        {
            maxCols = Math.Max(maxCols, m.Cols);
            if (m.IsQuantized) maxActBytes = Math.Max(maxActBytes, QuantOps.ActivationBytes(m.Type, m.Cols));
        }
        Scratch = new float[threads][];
        Scores = new float[threads][];
        for (int w = 0; w < threads; w++)
        {
            Scratch[w] = new float[checked(WeightMatrix.TileRows * maxCols)];
            Scores[w] = new float[maxContext];
        }
        _xq = new byte[MatMulJob.MaxOutputs][];
        XqBuffers = new byte*[MatMulJob.MaxOutputs];
        for (int i = 0; i < _xq.Length; i++)
        {
            _xq[i] = GC.AllocateArray<byte>(checked(Math.Max(1, maxBatch * maxActBytes)), pinned: true);
            XqBuffers[i] = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_xq[i]));
        }
    }

    /// <summary>Bytes of every buffer above: what the executor adds to the model's own weights.</summary>
    public long Bytes
    {
        get
        {
            long n = 4L * (X.Length + Xb.Length + Xb2.Length + Q.Length + Att.Length + Hb.Length + Hb2.Length + Logits.Length + KeyCache.Length + ValueCache.Length);
            foreach (var a in Scratch) n += 4L * a.Length;
            foreach (var a in Scores) n += 4L * a.Length;
            foreach (var a in _xq) n += a.Length;
            return n;
        }
    }

    private static float[] Pinned(long count)
    {
        if (count > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(count), count, "run-state buffer larger than one array can hold: lower MaxContext or MaxBatch");
        return GC.AllocateArray<float>((int)Math.Max(1, count), pinned: true);
    }

    public static float* Ptr(float[] pinned) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
}
