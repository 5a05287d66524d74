using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

/// <summary>
/// The executor's parallel splits (matrix rows in byte-balanced units, token rows of the norm / SwiGLU /
/// RoPE / quantization work, residual adds in the projection's parts) give the same results on any
/// thread count: only the float summation order of the batched kernels may differ.
/// </summary>
public class ParallelSplitTests
{
    private const int N = 12;

    public static TheoryData<string, ElementType> Cases()
    {
        var data = new TheoryData<string, ElementType>();
        foreach (var family in new[] { "llama-gqa", "mobilellm-ls" })
        {
            foreach (var type in new[] { ElementType.Q4_0, ElementType.Q8_0 }) data.Add(family, type);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Quantized_logits_and_greedy_tokens_agree_on_one_two_and_three_threads(string family, ElementType type)
    {
        using var ir = TestModels.Quantize(TestModels.Create(family), type);
        var prompt = TestModels.Tokens(N, ir.Config.VocabSize);
        float[]? reference = null;
        int[]? referenceTokens = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var model = new Transformer(ir, new ExecutorOptions { Threads = threads, MaxContext = 2 * N, QuantPath = QuantPath.Fast });
            var logits = model.Forward(prompt);
            // Then greedy decode one token at a time: the batch-1 path with its own splits.
            var tokens = new int[N - 1];
            int next = Sampler.Greedy(logits.AsSpan((N - 1) * ir.Config.VocabSize));
            for (int i = 0; i < tokens.Length; i++)
            {
                tokens[i] = next;
                next = Sampler.Greedy(model.ForwardLast([next]));
            }
            if (reference is null)
            {
                reference = logits;
                referenceTokens = tokens;
                continue;
            }
            Assert.True(TestModels.MaxAbsDiff(reference, logits) <= 1e-5f * TestModels.MaxAbs(reference), $"{threads} threads: logits differ by {TestModels.MaxAbsDiff(reference, logits)}");
            Assert.Equal(referenceTokens, tokens);
        }
    }

    [Fact]
    public void Float_logits_are_identical_on_one_and_three_threads()
    {
        using var ir = TestModels.Create("mobilellm-ls", ElementType.F16);
        var tokens = TestModels.Tokens(N, ir.Config.VocabSize);
        using var one = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = N });
        using var three = new Transformer(ir, new ExecutorOptions { Threads = 3, MaxContext = N });
        Assert.Equal(one.Forward(tokens), three.Forward(tokens));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    public unsafe void Mixed_type_job_computes_every_row_once_and_adds_each_residual_once(int batch)
    {
        // Two matrices of different types and sizes in one job, so part boundaries fall inside each
        // (byte-weighted) and rows end in a partial unit.
        const int cols = 64;
        var a = Matrix("a", 200, cols, ElementType.Q4_0, seed: 1);
        var b = Matrix("b", 40, cols, ElementType.Q8_0, seed: 2);
        var x = Random(batch * cols, seed: 3);
        var residual = Random(batch * b.Rows, seed: 4);
        var expectedA = Expected(a, x, batch);
        var expectedB = Expected(b, x, batch);
        using var pool = new WorkerPool(3);
        var scratch = new[] { new float[WeightMatrix.TileRows * cols], new float[WeightMatrix.TileRows * cols], new float[WeightMatrix.TileRows * cols] };
        var xq = new byte[MatMulJob.MaxOutputs][];
        var xqPtr = new byte*[MatMulJob.MaxOutputs];
        for (int i = 0; i < xq.Length; i++)
        {
            xq[i] = GC.AllocateArray<byte>(batch * QuantOps.ActivationBytes(ElementType.Q8_0, cols), pinned: true);
            xqPtr[i] = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(xq[i]));
        }
        var job = new MatMulJob(pool, QuantPath.Fast, scratch, xqPtr);
        var ya = new float[batch * a.Rows];
        var yb = new float[batch * b.Rows];
        var sum = (float[])residual.Clone();
        fixed (float* xp = x, yap = ya, ybp = yb, sp = sum)
        {
            job.Begin(xp, cols, batch);
            job.Add(a, yap, a.Rows);
            job.Add(b, ybp, b.Rows, residual: sp);
            job.Plan();
            for (int s = 0; s < batch; s++) job.QuantizeRow(s);
            job.Run();
        }
        AssertClose(expectedA, ya);
        AssertClose(expectedB, yb);
        for (int i = 0; i < sum.Length; i++) Assert.Equal(residual[i] + yb[i], sum[i]);
    }

    private static WeightMatrix Matrix(string name, int rows, int cols, ElementType type, ulong seed)
    {
        var bytes = new byte[type.ByteSize([rows, cols])!.Value];
        QuantOps.Quantize(type, Random(rows * cols, seed), bytes);
        return new WeightMatrix(new Tensor(name, [rows, cols], type, new MemorySource(bytes)));
    }

    /// <summary>y[s, r] = DotFast(row r, token s) one row at a time: no split, no batching.</summary>
    private static float[] Expected(WeightMatrix w, float[] x, int batch)
    {
        var y = new float[batch * w.Rows];
        var xq = new byte[QuantOps.ActivationBytes(w.Type, w.Cols)];
        for (int s = 0; s < batch; s++)
        {
            QuantOps.QuantizeActivations(w.Type, x.AsSpan(s * w.Cols, w.Cols), xq);
            for (int r = 0; r < w.Rows; r++) y[s * w.Rows + r] = QuantOps.DotFast(w.Type, w.RowSpan(r), xq);
        }
        return y;
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        float tolerance = 1e-5f * TestModels.MaxAbs(expected);
        for (int i = 0; i < expected.Length; i++) Assert.True(MathF.Abs(expected[i] - actual[i]) <= tolerance, $"output {i}: {actual[i]} vs {expected[i]}");
    }

    private static float[] Random(int count, ulong seed)
    {
        var rng = new SplitMix64(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((rng.NextUInt64() >> 40) / (double)(1UL << 24) * 2 - 1)).ToArray();
    }
}
