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
}
