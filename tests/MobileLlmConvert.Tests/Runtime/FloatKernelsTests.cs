using System.Runtime.Intrinsics;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public unsafe class FloatKernelsTests
{
    [Theory]
    [InlineData(4, 64, 7)]   // one 4x4 block plus three tokens on the single-dot path
    [InlineData(4, 48, 8)]   // 48 is not a multiple of 16 floats: the single-dot path only
    [InlineData(3, 64, 5)]   // a partial tile of rows
    public void Blocked_kernel_matches_double_precision_dots(int rows, int cols, int batch)
    {
        var rng = new SplitMix64(3);
        var w = Enumerable.Range(0, rows * cols).Select(_ => rng.NextGaussian()).ToArray();
        int xStride = cols + 3, yStride = rows + 2;
        var x = Enumerable.Range(0, batch * xStride).Select(_ => rng.NextGaussian()).ToArray();
        var y = new float[batch * yStride];
        fixed (float* wp = w, xp = x, yp = y) FloatKernels.Multiply(wp, rows, cols, xp, xStride, batch, yp, yStride);
        for (int s = 0; s < batch; s++)
        {
            for (int t = 0; t < rows; t++)
            {
                double expected = 0;
                for (int k = 0; k < cols; k++) expected += (double)w[t * cols + k] * x[s * xStride + k];
                Assert.True(Math.Abs(expected - y[s * yStride + t]) <= 1e-5 * cols, $"s={s} t={t}: {y[s * yStride + t]} vs {expected}");
            }
            for (int t = rows; t < yStride; t++) Assert.Equal(0f, y[s * yStride + t]); // nothing written past the rows
        }
    }

    [Fact]
    public void Platform_width_block_matches_double_precision_dots()
    {
        // The 4x2 block runs where 512-bit vectors are not accelerated; call it directly so this machine tests it too.
        int cols = 64, xStride = 70, yStride = 6;
        var rng = new SplitMix64(8);
        var w = Enumerable.Range(0, 4 * cols).Select(_ => rng.NextGaussian()).ToArray();
        var x = Enumerable.Range(0, 2 * xStride).Select(_ => rng.NextGaussian()).ToArray();
        var y = new float[2 * yStride];
        fixed (float* wp = w, xp = x, yp = y) FloatKernels.Block4x2(wp, cols, xp, xStride, yp, yStride);
        for (int s = 0; s < 2; s++)
        {
            for (int t = 0; t < 4; t++)
            {
                double expected = 0;
                for (int k = 0; k < cols; k++) expected += (double)w[t * cols + k] * x[s * xStride + k];
                Assert.True(Math.Abs(expected - y[s * yStride + t]) <= 1e-5 * cols, $"s={s} t={t}: {y[s * yStride + t]} vs {expected}");
            }
        }
    }

    [Fact]
    public void Vector_f16_conversion_equals_the_scalar_one_for_every_bit_pattern()
    {
        // Zeros, subnormals, normals, the largest finite values, infinities: bit for bit; NaN stays NaN.
        var h = new uint[8];
        for (int start = 0; start < 65536; start += 8)
        {
            for (int j = 0; j < 8; j++) h[j] = (uint)(start + j);
            var got = HalfVectors.ToSingle(Vector256.Create(h));
            for (int j = 0; j < 8; j++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h[j]);
                if (float.IsNaN(expected)) Assert.True(float.IsNaN(got[j]), $"0x{h[j]:X4}");
                else Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(got[j]));
            }
        }
    }

    public static TheoryData<QuantIsaLevel> Levels()
    {
        var data = new TheoryData<QuantIsaLevel>();
        foreach (var level in Enum.GetValues<QuantIsaLevel>())
        {
            if (level <= QuantIsa.Process) data.Add(level);
        }
        return data;
    }

    /// <summary>Σ_k f(w[t·cols + k])·x[k] in double, and Σ|·| for the tolerance.</summary>
    private static (double Sum, double Magnitude) Reference(Func<int, float> weight, int t, int cols, float[] x)
    {
        double sum = 0, magnitude = 0;
        for (int k = 0; k < cols; k++)
        {
            double p = (double)weight(t * cols + k) * x[k];
            sum += p;
            magnitude += Math.Abs(p);
        }
        return (sum, magnitude);
    }

    /// <summary>Row counts around the four-row pass and widths with 32-, 16-, 8-value and scalar tails.</summary>
    private static readonly int[] RowCounts = [1, 4, 5, 9];
    private static readonly int[] Widths = [7, 40, 48, 576, 583];

    [Theory]
    [MemberData(nameof(Levels))]
    public void F16_rows_times_one_token_match_double_precision_dots(QuantIsaLevel level)
    {
        // Subnormal f16 weights (|w| < 2^-14) among normal ones. The scaled conversion is exact for
        // them; the f32 sums agree with double up to summation order: 1e-5 of Σ|w·x|.
        foreach (int rows in RowCounts)
        {
            foreach (int cols in Widths)
            {
                var rng = new SplitMix64((ulong)(rows * 1000 + cols));
                var w = new ushort[rows * cols];
                for (int i = 0; i < w.Length; i++)
                {
                    float v = i % 5 == 0 ? rng.NextGaussian() * 3e-5f : rng.NextGaussian() * 0.05f;
                    w[i] = BitConverter.HalfToUInt16Bits((Half)v);
                }
                var x = Enumerable.Range(0, cols).Select(_ => rng.NextGaussian()).ToArray();
                var y = new float[rows + 1];
                var state = new byte[rows];
                bool ran;
                fixed (ushort* wp = w)
                fixed (float* xp = x, yp = y)
                fixed (byte* sp = state)
                {
                    using (QuantIsa.Force(level)) ran = FloatKernels.DotF16Rows(wp, rows, cols, xp, yp, sp);
                }
                Assert.Equal(level != QuantIsaLevel.Scalar, ran);
                if (!ran) continue;
                Assert.All(state, s => Assert.Equal(FloatKernels.RowFinite, s));
                for (int t = 0; t < rows; t++)
                {
                    var (expected, magnitude) = Reference(i => (float)BitConverter.UInt16BitsToHalf(w[i]), t, cols, x);
                    Assert.True(Math.Abs(expected - y[t]) <= 1e-5 * magnitude + 1e-30, $"{level} rows={rows} cols={cols} t={t}: {y[t]} vs {expected}");
                }
                Assert.Equal(0f, y[rows]); // nothing written past the rows
            }
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void F16_rows_convert_every_bit_pattern_like_the_exact_conversion(QuantIsaLevel level)
    {
        // 2,048 rows of 32 columns hold all 65,536 patterns: ±0, every subnormal, every normal up to
        // ±65504, ±infinity and the NaNs. A one-hot activation picks column j, so each row's result is
        // one converted weight, exactly: y = (float)Half(w)·1 for finite rows (the 2^-112 scaling is
        // exact there, subnormals included). A row holding infinity or NaN goes through the exact
        // conversion and gives what the naive loop gives: NaN where 0·∞ or a NaN enters, else ±∞.
        if (level == QuantIsaLevel.Scalar) return; // no row kernel: the tile path (FloatConvert) runs
        const int Cols = 32, Rows = 65536 / Cols;
        var w = new ushort[Rows * Cols];
        for (int i = 0; i < w.Length; i++) w[i] = (ushort)i;
        var x = new float[Cols];
        var y = new float[Rows];
        var state = new byte[Rows];
        for (int j = 0; j < Cols; j++)
        {
            Array.Clear(x);
            x[j] = 1f;
            fixed (ushort* wp = w)
            fixed (float* xp = x, yp = y)
            fixed (byte* sp = state)
            {
                using (QuantIsa.Force(level)) Assert.True(FloatKernels.DotF16Rows(wp, Rows, Cols, xp, yp, sp));
            }
            for (int t = 0; t < Rows; t++)
            {
                float expected = 0;
                for (int k = 0; k < Cols; k++) expected += (float)BitConverter.UInt16BitsToHalf(w[t * Cols + k]) * x[k];
                if (float.IsNaN(expected)) Assert.True(float.IsNaN(y[t]), $"row {t} column {j}: {y[t]}, expected NaN");
                else Assert.True(expected == y[t], $"row {t} (0x{w[t * Cols + j]:X4}) column {j}: {y[t]} vs {expected}");
            }
        }
        // Exponent 31 lives in rows 0x7C00/32 .. 0x7FFF/32 and 0xFC00/32 .. 0xFFFF/32.
        for (int t = 0; t < Rows; t++)
        {
            bool special = (t * Cols & 0x7C00) == 0x7C00;
            Assert.Equal(special ? FloatKernels.RowNonFinite : FloatKernels.RowFinite, state[t]);
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void F16_products_in_the_f32_subnormal_range_stay_within_the_stated_bound(QuantIsaLevel level)
    {
        // Scaled by 2^-112, a product below 2^-14 in magnitude is an f32 subnormal: kept to a multiple
        // of 2^-37 (true scale) instead of 24 bits. Bound per row: 1e-5·Σ|w·x| + cols·2^-38. Here the
        // largest weight (65504) meets tiny activations and the smallest subnormals meet large ones.
        if (level == QuantIsaLevel.Scalar) return;
        const int Rows = 6, Cols = 96;
        var rng = new SplitMix64(14);
        var w = new ushort[Rows * Cols];
        var x = new float[Cols];
        for (int k = 0; k < Cols; k++) x[k] = k % 2 == 0 ? rng.NextGaussian() * 1e-9f : rng.NextGaussian() * 1e3f;
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (i % 4) switch
            {
                0 => 0x7BFF,                                   // 65504, the largest half
                1 => 0x0001,                                   // 2^-24, the smallest subnormal
                2 => (ushort)(0x8000 | (i % 0x3FF + 1)),       // negative subnormals
                _ => BitConverter.HalfToUInt16Bits((Half)(rng.NextGaussian() * 1e-3f)),
            };
        }
        var y = new float[Rows];
        var state = new byte[Rows];
        fixed (ushort* wp = w)
        fixed (float* xp = x, yp = y)
        fixed (byte* sp = state)
        {
            using (QuantIsa.Force(level)) Assert.True(FloatKernels.DotF16Rows(wp, Rows, Cols, xp, yp, sp));
        }
        for (int t = 0; t < Rows; t++)
        {
            var (expected, magnitude) = Reference(i => (float)BitConverter.UInt16BitsToHalf(w[i]), t, Cols, x);
            Assert.True(Math.Abs(expected - y[t]) <= 1e-5 * magnitude + Cols * Math.Pow(2, -38), $"{level} t={t}: {y[t]} vs {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void BF16_and_f32_rows_times_one_token_match_double_precision_dots(QuantIsaLevel level)
    {
        foreach (int rows in RowCounts)
        {
            foreach (int cols in Widths)
            {
                var rng = new SplitMix64((ulong)(rows * 977 + cols));
                var wf = Enumerable.Range(0, rows * cols).Select(_ => rng.NextGaussian() * 0.05f).ToArray();
                var wb = wf.Select(FloatConvert.SingleToBF16).ToArray();
                var x = Enumerable.Range(0, cols).Select(_ => rng.NextGaussian()).ToArray();
                var yb = new float[rows + 1];
                var yf = new float[rows + 1];
                bool ranB, ranF;
                fixed (ushort* wbp = wb)
                fixed (float* wfp = wf, xp = x, ybp = yb, yfp = yf)
                {
                    using var _ = QuantIsa.Force(level);
                    ranB = FloatKernels.DotBF16Rows(wbp, rows, cols, xp, ybp);
                    ranF = FloatKernels.DotF32Rows(wfp, rows, cols, xp, yfp);
                }
                Assert.Equal(level != QuantIsaLevel.Scalar, ranB);
                Assert.Equal(level != QuantIsaLevel.Scalar, ranF);
                if (!ranB) continue;
                for (int t = 0; t < rows; t++)
                {
                    var (eb, mb) = Reference(i => FloatConvert.BF16ToSingle(wb[i]), t, cols, x);
                    Assert.True(Math.Abs(eb - yb[t]) <= 1e-5 * mb, $"bf16 {level} rows={rows} cols={cols} t={t}: {yb[t]} vs {eb}");
                    var (ef, mf) = Reference(i => wf[i], t, cols, x);
                    Assert.True(Math.Abs(ef - yf[t]) <= 1e-5 * mf, $"f32 {level} rows={rows} cols={cols} t={t}: {yf[t]} vs {ef}");
                }
                Assert.Equal(0f, yb[rows]);
                Assert.Equal(0f, yf[rows]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void Scaled_f16_tile_times_2_to_the_112_is_every_finite_half_exactly(QuantIsaLevel level)
    {
        // All 63,488 finite patterns (±0, subnormals, normals up to ±65504) as 1,984 rows of 32.
        var finite = Enumerable.Range(0, 65536).Select(i => (ushort)i).Where(h => (h & 0x7C00) != 0x7C00).ToArray();
        const int Cols = 32;
        int rows = finite.Length / Cols;
        var dst = new float[finite.Length];
        var state = new byte[rows];
        bool ran;
        fixed (ushort* wp = finite)
        fixed (float* dp = dst)
        fixed (byte* sp = state)
        {
            using (QuantIsa.Force(level)) ran = FloatKernels.WidenF16Scaled(wp, rows, Cols, sp, dp);
        }
        Assert.Equal(level != QuantIsaLevel.Scalar, ran);
        if (!ran) return;
        for (int i = 0; i < finite.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(finite[i]);
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(dst[i] * FloatKernels.F16TileScale),
                $"0x{finite[i]:X4}: {dst[i] * FloatKernels.F16TileScale} vs {expected}");
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void Scaled_f16_tile_refuses_rows_with_infinity_or_nan(QuantIsaLevel level)
    {
        // The second row holds +inf, the fourth a NaN: the tile must be converted exactly instead.
        const int Rows = 4, Cols = 40;
        foreach (ushort special in new ushort[] { 0x7C00, 0xFC00, 0x7E00, 0x7C01 })
        {
            var w = new ushort[Rows * Cols];
            w[Cols + 3] = special;
            var dst = new float[Rows * Cols];
            var state = new byte[Rows];
            bool ran;
            fixed (ushort* wp = w)
            fixed (float* dp = dst)
            fixed (byte* sp = state)
            {
                using (QuantIsa.Force(level)) ran = FloatKernels.WidenF16Scaled(wp, Rows, Cols, sp, dp);
            }
            Assert.False(ran);
            Assert.All(dst, v => Assert.Equal(0f, v)); // nothing written
            if (level != QuantIsaLevel.Scalar) Assert.Equal(FloatKernels.RowNonFinite, state[1]);
        }
    }

    [Theory]
    [MemberData(nameof(Levels))]
    public void F16_prefill_tile_through_the_weight_matrix_matches_double_precision_dots(QuantIsaLevel level)
    {
        // WeightMatrix.MultiplyRows with a batch: scaled tile (finite rows) or exact tile (a row with
        // infinity), Block4x4 / remainder with the 2^112 applied per output.
        const int Rows = 9, Cols = 64, Batch = 7;
        var rng = new SplitMix64(21);
        var half = new ushort[Rows * Cols];
        for (int i = 0; i < half.Length; i++) half[i] = BitConverter.HalfToUInt16Bits((Half)(rng.NextGaussian() * (i % 7 == 0 ? 3e-5f : 0.05f)));
        half[6 * Cols + 5] = 0x7C00; // +inf in row 6: that tile converts exactly, its outputs are ±inf or NaN
        var bytes = new byte[half.Length * 2];
        Buffer.BlockCopy(half, 0, bytes, 0, bytes.Length);
        var tensor = new MobileLlmConvert.Core.Ir.Tensor("w", [Rows, Cols], MobileLlmConvert.Core.Ir.ElementType.F16, new MobileLlmConvert.Core.Ir.MemorySource(bytes));
        var matrix = new WeightMatrix(tensor);
        var x = Enumerable.Range(0, Batch * Cols).Select(_ => rng.NextGaussian()).ToArray();
        var y = new float[Batch * Rows];
        var scratch = new float[WeightMatrix.TileRows * Cols];
        fixed (float* xp = x, yp = y)
        {
            using (QuantIsa.Force(level)) matrix.MultiplyRows(0, Rows, xp, Cols, Batch, null, 0, yp, Rows, scratch, QuantPath.Exact);
        }
        for (int s = 0; s < Batch; s++)
        {
            for (int t = 0; t < Rows; t++)
            {
                double expected = 0, magnitude = 0;
                for (int k = 0; k < Cols; k++)
                {
                    double p = (double)(float)BitConverter.UInt16BitsToHalf(half[t * Cols + k]) * x[s * Cols + k];
                    expected += p;
                    magnitude += Math.Abs(p);
                }
                float got = y[s * Rows + t];
                if (double.IsInfinity(expected)) Assert.Equal(expected, got);
                else Assert.True(Math.Abs(expected - got) <= 1e-5 * magnitude + 1e-30, $"{level} s={s} t={t}: {got} vs {expected}");
            }
        }
    }
}
