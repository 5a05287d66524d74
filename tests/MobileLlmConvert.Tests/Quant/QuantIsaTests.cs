using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;

namespace MobileLlmConvert.Tests.Quant;

/// <summary>
/// Every kernel level this CPU runs (scalar, AVX2, AVX-512), forced per thread with
/// <see cref="QuantIsa.Force"/>, held to the scalar reference <see cref="QuantOpsNaive"/> for every
/// quantized type: integer sums exactly, f32 results within 1e-5 of Σ|w·x| (summation order).
/// </summary>
public class QuantIsaTests
{
    public static TheoryData<ElementType, QuantIsaLevel> TypesAndLevels()
    {
        var data = new TheoryData<ElementType, QuantIsaLevel>();
        foreach (var row in ElementTypes.All)
        {
            if (!row.IsQuantized) continue;
            foreach (var level in Enum.GetValues<QuantIsaLevel>())
            {
                if (level <= QuantIsa.Process) data.Add(row.Type, level);
            }
        }
        return data;
    }

    /// <summary>
    /// Block counts around the AVX-512 kernel's groups of sixteen scales (1, 3, 15, 16, 17, 33) and
    /// around the AVX2 kernels' pairs of blocks, plus MobileLLM-125M's 576 and 1536 where the group divides them.
    /// </summary>
    private static IEnumerable<int> Widths(ElementType type)
    {
        int g = type.Info().BlockValues;
        foreach (int blocks in new[] { 1, 3, 15, 16, 17, 33 }) yield return blocks * g;
        foreach (int w in new[] { 576, 1536 })
        {
            if (w % g == 0) yield return w;
        }
    }

    [Fact]
    public void Forcing_a_level_changes_the_instructions_reported_and_never_raises_above_the_process_level()
    {
        using (QuantIsa.Force(QuantIsaLevel.Scalar))
        {
            Assert.Equal(QuantIsaLevel.Scalar, QuantIsa.Current);
            Assert.Equal("scalar", QuantOps.FastPathInstructions);
            Assert.False(QuantOps.IsAccelerated);
        }
        Assert.Equal(QuantIsa.Process, QuantIsa.Current);
        using (QuantIsa.Force(QuantIsaLevel.Avx512)) Assert.Equal(QuantIsa.Process, QuantIsa.Current);
    }

    [Theory]
    [InlineData("avx2", QuantIsaLevel.Avx512, QuantIsaLevel.Avx2)]
    [InlineData(" SCALAR ", QuantIsaLevel.Avx512, QuantIsaLevel.Scalar)]
    [InlineData("avx512", QuantIsaLevel.Avx2, QuantIsaLevel.Avx2)]  // never above what the CPU has
    [InlineData("avx9000", QuantIsaLevel.Avx512, QuantIsaLevel.Avx512)]  // unknown: ignored, not scalar
    [InlineData(null, QuantIsaLevel.Avx2, QuantIsaLevel.Avx2)]
    public void Environment_variable_caps_the_level(string? value, QuantIsaLevel supported, QuantIsaLevel expected) =>
        Assert.Equal(expected, QuantIsa.Cap(supported, value));

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void DotFastRows_at_each_level_agrees_with_the_reference(ElementType type, QuantIsaLevel level)
    {
        const int rows = 7; // odd: no kernel may assume pairs or groups of rows
        foreach (int n in Widths(type))
        {
            var w = new byte[rows * type.ByteSize([n])!.Value];
            int rowBytes = w.Length / rows;
            for (int r = 0; r < rows; r++)
                QuantOps.Quantize(type, QuantKernelTests.Gaussian(n, 10 * (ulong)n + (ulong)r, 0.05f), w.AsSpan(r * rowBytes, rowBytes));
            var x = QuantKernelTests.Gaussian(n, 20 + (ulong)n);
            var xq = new byte[QuantOps.ActivationBytes(type, n)];
            QuantOpsNaive.QuantizeActivations(type, x, xq);
            var y = new float[rows];
            var deq = new float[n];
            using (QuantIsa.Force(level)) QuantOps.DotFastRows(type, w, rowBytes, xq, y);
            for (int r = 0; r < rows; r++)
            {
                var row = w.AsSpan(r * rowBytes, rowBytes);
                QuantOpsNaive.Dequantize(type, row, deq);
                double magnitude = 0;
                for (int i = 0; i < n; i++) magnitude += Math.Abs(deq[i] * x[i]);
                float naive = QuantOpsNaive.DotFast(type, row, xq);
                Assert.True(Math.Abs(y[r] - naive) <= 1e-5 * magnitude, $"{type} {level} n={n} row {r}: {y[r]} vs reference {naive} (Σ|wx| {magnitude})");
                float one;
                using (QuantIsa.Force(level)) one = QuantOps.DotFast(type, row, xq);
                Assert.Equal(y[r], one); // the single-row entry point runs the same kernel
            }
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Integer_sums_at_each_level_are_exact(ElementType type, QuantIsaLevel level)
    {
        // Unit scales (and min −3): every result is an exact integer, so any lost or saturated product
        // (int8 weights of −128 included) shows.
        var info = type.Info();
        int g = info.BlockValues;
        foreach (int n in Widths(type))
        {
            int blocks = n / g;
            var rng = new SplitMix64(50 + (ulong)n);
            var row = new byte[blocks * info.BlockBytes];
            for (int i = 0; i < row.Length; i++) row[i] = (byte)rng.NextUInt64();
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (int)(rng.NextUInt64() % 255) - 127;
            for (int b = 0; b < blocks; b++)
            {
                x[b * g] = 127f;
                QuantKernelTests.UnitScales(info, row.AsSpan(b * info.BlockBytes, info.BlockBytes), -3f);
                if (info.Kind == QuantKind.Int8Symmetric) row[b * info.BlockBytes + 2] = 0x80;
            }
            var deq = new float[n];
            QuantOpsNaive.Dequantize(type, row, deq);
            long exact = 0;
            for (int i = 0; i < n; i++) exact += (long)deq[i] * (long)x[i];
            var xq = new byte[QuantOps.ActivationBytes(type, n)];
            QuantOpsNaive.QuantizeActivations(type, x, xq);
            var y = new float[2];
            var two = new byte[2 * row.Length];
            row.CopyTo(two, 0);
            row.CopyTo(two, row.Length);
            using (QuantIsa.Force(level)) QuantOps.DotFastRows(type, two, row.Length, xq, y);
            Assert.Equal(new[] { (float)exact, (float)exact }, y);
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndLevels))]
    public void Exact_path_and_activation_quantization_at_each_level_agree_with_the_reference(ElementType type, QuantIsaLevel level)
    {
        foreach (int n in Widths(type))
        {
            var w = QuantKernelTests.QuantizeRow(type, QuantKernelTests.Gaussian(n, 30 + (ulong)n, 0.05f));
            var x = QuantKernelTests.Gaussian(n, 40 + (ulong)n, 2f);
            var deq = new float[n];
            var fastDeq = new float[n];
            QuantOpsNaive.Dequantize(type, w, deq);
            var xqNaive = new byte[QuantOps.ActivationBytes(type, n)];
            var xqFast = new byte[xqNaive.Length];
            QuantOpsNaive.QuantizeActivations(type, x, xqNaive);
            float exact;
            using (QuantIsa.Force(level))
            {
                QuantOps.Dequantize(type, w, fastDeq);
                QuantOps.QuantizeActivations(type, x, xqFast);
                exact = QuantOps.DotExact(type, w, x);
            }
            Assert.Equal(deq, fastDeq);
            Assert.Equal(xqNaive, xqFast);
            double magnitude = 0;
            for (int i = 0; i < n; i++) magnitude += Math.Abs(deq[i] * x[i]);
            float naive = QuantOpsNaive.DotExact(type, w, x);
            Assert.True(Math.Abs(exact - naive) <= 1e-5 * magnitude, $"{type} {level} n={n}: {exact} vs {naive}");
        }
    }
}
