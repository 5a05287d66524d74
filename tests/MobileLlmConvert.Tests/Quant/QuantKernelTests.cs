using System.Buffers.Binary;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;

namespace MobileLlmConvert.Tests.Quant;

/// <summary>The SIMD kernels of <see cref="QuantOps"/> against the scalar reference <see cref="QuantOpsNaive"/>.</summary>
public class QuantKernelTests
{
    public static TheoryData<ElementType> QuantTypes()
    {
        var data = new TheoryData<ElementType>();
        foreach (var row in ElementTypes.All)
        {
            if (row.IsQuantized) data.Add(row.Type);
        }
        return data;
    }

    /// <summary>Odd block counts (1, 3, 5, 7) and a 576-wide MobileLLM row where the group divides it.</summary>
    private static IEnumerable<int> Widths(ElementType type)
    {
        int g = type.Info().BlockValues;
        foreach (int blocks in new[] { 1, 3, 5, 7 }) yield return blocks * g;
        if (576 % g == 0) yield return 576;
    }

    /// <summary>
    /// Scales that make every value of a random block an integer: d = 1 (and the min
    /// <paramref name="min"/>); the K-quants' sub-block scales set to 1 too, so sums stay exact in f32.
    /// Layouts: ggml-common.h (block_q6_K keeps d last, after 16 int8 scales).
    /// </summary>
    internal static void UnitScales(ElementTypeInfo info, Span<byte> block, float min)
    {
        switch (info.Kind)
        {
            case QuantKind.K6:
                block[192..208].Fill(1);
                BinaryPrimitives.WriteHalfLittleEndian(block[208..], (Half)1f);
                break;
            case QuantKind.K4:
                BinaryPrimitives.WriteHalfLittleEndian(block, (Half)1f);
                BinaryPrimitives.WriteHalfLittleEndian(block[2..], (Half)1f);
                block[4..16].Fill(1);
                break;
            default:
                BinaryPrimitives.WriteHalfLittleEndian(block, (Half)1f);
                if (info.Kind is QuantKind.Int4Asymmetric or QuantKind.Int5Asymmetric) BinaryPrimitives.WriteHalfLittleEndian(block[2..], (Half)min);
                break;
        }
    }

    internal static float[] Gaussian(int n, ulong seed, float scale = 1f)
    {
        var rng = new SplitMix64(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = scale * rng.NextGaussian();
        return x;
    }

    internal static byte[] QuantizeRow(ElementType type, float[] x)
    {
        var bytes = new byte[type.ByteSize([x.Length])!.Value];
        QuantOps.Quantize(type, x, bytes);
        return bytes;
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void Dequantize_is_bit_identical_to_the_reference(ElementType type)
    {
        Assert.True(QuantOps.IsAccelerated, "these tests compare the SIMD kernels; this machine has AVX2");
        foreach (int n in Widths(type))
        {
            var w = QuantizeRow(type, Gaussian(n, (ulong)n, 0.05f));
            var fast = new float[n];
            var naive = new float[n];
            QuantOps.Dequantize(type, w, fast);
            QuantOpsNaive.Dequantize(type, w, naive);
            Assert.Equal(naive, fast);
        }
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void Dequantize_of_arbitrary_bytes_matches_the_reference(ElementType type)
    {
        // Every nibble and int8 value, including -128 which our quantizer never writes but a file may hold.
        var info = type.Info();
        var rng = new SplitMix64(7);
        var bytes = new byte[info.BlockBytes * 5];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)rng.NextUInt64();
        for (int b = 0; b < 5; b++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(b * info.BlockBytes), (Half)(0.01f * (b + 1)));
            if (info.Kind == QuantKind.Int4Asymmetric) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(b * info.BlockBytes + 2), (Half)(-0.3f * b));
        }
        var fast = new float[5 * info.BlockValues];
        var naive = new float[fast.Length];
        QuantOps.Dequantize(type, bytes, fast);
        QuantOpsNaive.Dequantize(type, bytes, naive);
        Assert.Equal(naive, fast);
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void DotExact_agrees_with_the_reference_within_1e5_relative(ElementType type)
    {
        foreach (int n in Widths(type))
        {
            var wf = Gaussian(n, 100 + (ulong)n, 0.05f);
            var w = QuantizeRow(type, wf);
            var x = Gaussian(n, 200 + (ulong)n);
            var deq = new float[n];
            QuantOpsNaive.Dequantize(type, w, deq);
            double magnitude = 0;
            for (int i = 0; i < n; i++) magnitude += Math.Abs(deq[i] * x[i]);
            float naive = QuantOpsNaive.DotExact(type, w, x);
            float fast = QuantOps.DotExact(type, w, x);
            // Relative to Σ|w·x|: the two sum in different orders, and a signed sum can cancel to near 0.
            Assert.True(Math.Abs(fast - naive) <= 1e-5 * magnitude, $"{type} n={n}: fast {fast} naive {naive} Σ|wx| {magnitude}");
        }
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void QuantizeActivations_is_byte_identical_to_the_reference(ElementType type)
    {
        foreach (int n in Widths(type))
        {
            var x = Gaussian(n, 300 + (ulong)n, 3f);
            // Exact ties: a block whose amax is 127 has multiplier 1, so k + 0.5 rounds half to even as ggml's
            // quantize_row_q8_0 does (vroundps, round-to-nearest-even).
            for (int j = 0; j < Math.Min(n, 32); j++) x[j] = j == 0 ? -127f : (j % 2 == 0 ? 1 : -1) * (j + 0.5f);
            int bytes = QuantOps.ActivationBytes(type, n);
            var fast = new byte[bytes];
            var naive = new byte[bytes];
            QuantOps.QuantizeActivations(type, x, fast);
            QuantOpsNaive.QuantizeActivations(type, x, naive);
            Assert.Equal(naive, fast);
            Assert.Equal(2, (sbyte)fast[2]); // x[2] = 2.5 -> 2
            Assert.Equal(-4, (sbyte)fast[3]); // x[3] = -3.5 -> -4
        }
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void DotFast_integer_sums_are_identical_to_the_reference(ElementType type)
    {
        // Unit scales make every product an integer, so any difference in the integer block sums (or
        // a saturated vpmaddubsw pair) would show as an inexact result: both must equal the exact sum.
        var info = type.Info();
        int g = info.BlockValues;
        foreach (int n in Widths(type))
        {
            int blocks = n / g;
            var rng = new SplitMix64(400 + (ulong)n);
            var row = new byte[blocks * info.BlockBytes];
            for (int i = 0; i < row.Length; i++) row[i] = (byte)rng.NextUInt64();
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (int)(rng.NextUInt64() % 255) - 127;
            for (int b = 0; b < blocks; b++)
            {
                x[b * g] = 127f; // amax 127: activation scale exactly 1
                UnitScales(info, row.AsSpan(b * info.BlockBytes, info.BlockBytes), -3f);
                if (info.Kind == QuantKind.Int8Symmetric) row[b * info.BlockBytes + 2] = 0x80; // -128: the widest sign-trick product
            }
            var deq = new float[n];
            QuantOpsNaive.Dequantize(type, row, deq);
            long exact = 0;
            for (int i = 0; i < n; i++) exact += (long)deq[i] * (long)x[i];
            var xq = new byte[QuantOps.ActivationBytes(type, n)];
            QuantOps.QuantizeActivations(type, x, xq);
            Assert.Equal((float)exact, QuantOpsNaive.DotFast(type, row, xq));
            Assert.Equal((float)exact, QuantOps.DotFast(type, row, xq));
        }
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void DotFast_agrees_with_the_reference_within_1e5_relative(ElementType type)
    {
        foreach (int n in Widths(type))
        {
            var w = QuantizeRow(type, Gaussian(n, 500 + (ulong)n, 0.05f));
            var x = Gaussian(n, 600 + (ulong)n);
            var xq = new byte[QuantOps.ActivationBytes(type, n)];
            QuantOps.QuantizeActivations(type, x, xq);
            var deq = new float[n];
            QuantOpsNaive.Dequantize(type, w, deq);
            double magnitude = 0;
            for (int i = 0; i < n; i++) magnitude += Math.Abs(deq[i] * x[i]);
            float naive = QuantOpsNaive.DotFast(type, w, xq);
            float fast = QuantOps.DotFast(type, w, xq);
            Assert.True(Math.Abs(fast - naive) <= 1e-5 * magnitude, $"{type} n={n}: fast {fast} naive {naive}");
        }
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void Row_entry_points_equal_one_call_per_row(ElementType type)
    {
        var info = type.Info();
        int n = 3 * info.BlockValues, rows = 5;
        int rowBytes = 3 * info.BlockBytes + 6; // a stride wider than the row, as a padded buffer would have
        var all = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++)
            QuantOps.Quantize(type, Gaussian(n, 700 + (ulong)r, 0.05f), all.AsSpan(r * rowBytes, 3 * info.BlockBytes));
        var x = Gaussian(n, 800);
        var xq = new byte[QuantOps.ActivationBytes(type, n)];
        QuantOps.QuantizeActivations(type, x, xq);
        var yFast = new float[rows];
        var yExact = new float[rows];
        QuantOps.DotFastRows(type, all, rowBytes, xq, yFast);
        QuantOps.DotExactRows(type, all, rowBytes, x, yExact);
        for (int r = 0; r < rows; r++)
        {
            var row = all.AsSpan(r * rowBytes, rowBytes);
            Assert.Equal(QuantOps.DotFast(type, row, xq), yFast[r]);
            Assert.Equal(QuantOps.DotExact(type, row, x), yExact[r]);
        }
        // The last row needs its blocks, not the padding after them; one byte less is refused.
        int need = 4 * rowBytes + 3 * info.BlockBytes;
        var e = Assert.Throws<ArgumentException>(() => QuantOps.DotFastRows(type, all.AsSpan(0, need - 1), rowBytes, xq, yFast));
        Assert.Equal($"5 rows of stride {rowBytes} need {need} bytes, span has {need - 1}", e.Message);
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void Tile_of_rows_and_tokens_matches_DotFast(ElementType type)
    {
        // Row counts below, at and past the 4-bit kernel's eight-row panels, 1 to 7 blocks, batches
        // that are and are not multiples of four.
        var info = type.Info();
        int g = info.BlockValues;
        foreach (int blockCount in new[] { 1, 3, 5, 7 })
        {
            foreach (int rowCount in new[] { 3, 8, 13, 17 })
                CheckTileAgainstDotFast(type, blockCount, rowCount, blockCount * info.BlockBytes + (rowCount % 2) * 6);
        }
        int n = 3 * g, rows = 3, rowBytes = 3 * info.BlockBytes;
        int act = QuantOps.ActivationBytes(type, n);
        var w = new byte[rows * rowBytes];
        var e = Assert.Throws<ArgumentException>(() => QuantOps.DotFastTile(type, n, w, rowBytes, rows, new byte[act], act + 2, 1, new float[3], 3));
        Assert.Equal($"activation stride {act + 2} must be a multiple of 4 and at least {act} bytes", e.Message);
    }

    private static void CheckTileAgainstDotFast(ElementType type, int blockCount, int rows, int rowBytes)
    {
        var info = type.Info();
        int n = blockCount * info.BlockValues, rowLen = blockCount * info.BlockBytes;
        int act = QuantOps.ActivationBytes(type, n), xqStride = act + 12, yStride = rows + 2;
        var w = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) QuantOps.Quantize(type, Gaussian(n, 1100 + (ulong)r, 0.05f), w.AsSpan(r * rowBytes, rowLen));
        foreach (int batch in new[] { 1, 3, 4, 5, 8, 9 })
        {
            var xq = new byte[batch * xqStride];
            for (int s = 0; s < batch; s++) QuantOps.QuantizeActivations(type, Gaussian(n, 1200 + (ulong)s), xq.AsSpan(s * xqStride, act));
            var y = new float[batch * yStride];
            QuantOps.DotFastTile(type, n, w, rowBytes, rows, xq, xqStride, batch, y, yStride);
            for (int s = 0; s < batch; s++)
            {
                for (int r = 0; r < rows; r++)
                {
                    float one = QuantOps.DotFast(type, w.AsSpan(r * rowBytes, rowLen), xq.AsSpan(s * xqStride, act));
                    Assert.True(Math.Abs(y[s * yStride + r] - one) <= 1e-5f * (1 + Math.Abs(one)),
                        $"{type} {blockCount} blocks, {rows} rows, batch {batch}, token {s} row {r}: {y[s * yStride + r]} vs {one}");
                }
                Assert.Equal(0f, y[s * yStride + rows]); // the stride padding is left alone
                Assert.Equal(0f, y[s * yStride + rows + 1]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void Tile_integer_sums_are_exact(ElementType type)
    {
        // Unit scales as in the DotFast test: every token's result is an exact integer the tile must hit.
        var info = type.Info();
        int g = info.BlockValues, n = 5 * g, batch = 6;
        var rng = new SplitMix64(1300);
        var row = new byte[5 * info.BlockBytes];
        for (int i = 0; i < row.Length; i++) row[i] = (byte)rng.NextUInt64();
        for (int b = 0; b < 5; b++) UnitScales(info, row.AsSpan(b * info.BlockBytes, info.BlockBytes), 2f);
        var deq = new float[n];
        QuantOpsNaive.Dequantize(type, row, deq);
        int act = QuantOps.ActivationBytes(type, n);
        var xq = new byte[batch * act];
        var expected = new float[batch];
        for (int s = 0; s < batch; s++)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = i % g == 0 ? -127 : (int)(rng.NextUInt64() % 255) - 127;
            QuantOps.QuantizeActivations(type, x, xq.AsSpan(s * act, act));
            long sum = 0;
            for (int i = 0; i < n; i++) sum += (long)deq[i] * (long)x[i];
            expected[s] = sum;
        }
        var y = new float[batch];
        QuantOps.DotFastTile(type, n, row, row.Length, 1, xq, act, batch, y, 1);
        Assert.Equal(expected, y);
        // Nine copies of the row: one eight-row panel of the 4-bit kernel plus one row, same exact sums.
        const int copies = 9;
        var rows = new byte[copies * row.Length];
        for (int r = 0; r < copies; r++) row.CopyTo(rows.AsSpan(r * row.Length));
        var yRows = new float[batch * copies];
        QuantOps.DotFastTile(type, n, rows, row.Length, copies, xq, act, batch, yRows, copies);
        for (int s = 0; s < batch; s++) Assert.Equal(Enumerable.Repeat(expected[s], copies), yRows.AsSpan(s * copies, copies).ToArray());
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void Fast_path_stays_within_the_activation_rounding_bound_of_the_exact_path(ElementType type)
    {
        // Each activation moves by at most dx/2 when quantized (dx = block amax/127), so
        // |fast − exact| ≤ Σ_blocks dx/2 · Σ_j |w_j| (plus f32 rounding, the 1e-5 term).
        int g = type.Info().BlockValues;
        foreach (int n in Widths(type))
        {
            var w = QuantizeRow(type, Gaussian(n, 900 + (ulong)n, 0.05f));
            var x = Gaussian(n, 1000 + (ulong)n);
            var deq = new float[n];
            QuantOpsNaive.Dequantize(type, w, deq);
            double bound = 0, magnitude = 0;
            for (int b = 0; b < n / g; b++)
            {
                float amax = 0;
                double wAbs = 0;
                for (int j = b * g; j < (b + 1) * g; j++)
                {
                    amax = Math.Max(amax, Math.Abs(x[j]));
                    wAbs += Math.Abs(deq[j]);
                    magnitude += Math.Abs(deq[j] * x[j]);
                }
                bound += amax / 127.0 / 2 * wAbs;
            }
            var xq = new byte[QuantOps.ActivationBytes(type, n)];
            QuantOps.QuantizeActivations(type, x, xq);
            float fast = QuantOps.DotFast(type, w, xq);
            float exact = QuantOps.DotExact(type, w, x);
            Assert.True(Math.Abs(fast - exact) <= bound + 1e-5 * magnitude, $"{type} n={n}: fast {fast} exact {exact} bound {bound}");
        }
    }
}
