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

    [Theory]
    [MemberData(nameof(Levels))]
    public void F16_rows_times_one_token_match_double_precision_dots(QuantIsaLevel level)
    {
        // One and several rows, widths with 16-, 8-value and scalar tails, and
        // subnormal f16 weights (|w| < 2^-14) among normal ones.
        foreach (int rows in new[] { 1, 4, 9 })
        {
            foreach (int cols in new[] { 7, 40, 576, 583 })
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
                bool ran;
                fixed (ushort* wp = w)
                fixed (float* xp = x, yp = y)
                {
                    using (QuantIsa.Force(level)) ran = FloatKernels.DotF16Rows(wp, rows, cols, xp, yp);
                }
                Assert.Equal(level != QuantIsaLevel.Scalar, ran);
                if (!ran) continue;
                for (int t = 0; t < rows; t++)
                {
                    double expected = 0, magnitude = 0;
                    for (int k = 0; k < cols; k++)
                    {
                        double p = (double)(float)BitConverter.UInt16BitsToHalf(w[t * cols + k]) * x[k];
                        expected += p;
                        magnitude += Math.Abs(p);
                    }
                    Assert.True(Math.Abs(expected - y[t]) <= 1e-5 * magnitude + 1e-30, $"{level} rows={rows} cols={cols} t={t}: {y[t]} vs {expected}");
                }
                Assert.Equal(0f, y[rows]); // nothing written past the rows
            }
        }
    }
}
