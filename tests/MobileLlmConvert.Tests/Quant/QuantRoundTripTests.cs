using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Tests.Quant;

/// <summary>
/// Quantize then dequantize stays within a bound derived from the formulas, per element and block:
/// <list type="bullet">
/// <item>int8 sym: d = amax/127, |x − x'| ≤ d/2 + 127·|d − f16(d)|.</item>
/// <item>int4 sym: |d| = amax/8, |x − x'| ≤ |d|/2 + 8·|d − f16(d)|, except values with x/d &gt; 7.5 whose
/// quant is clamped from 16 to 15: there |d| + 8·|d − f16(d)|.</item>
/// <item>int4 asym: d = (max − min)/15, |x − x'| ≤ d/2 + 15·|d − f16(d)| + |min − f16(min)|.</item>
/// <item>int5 sym (Q5_0): |d| = amax/16, as int4 sym with 16 levels each side (clamp above x/d = 15.5).</item>
/// <item>int5 asym (Q5_1): d = (max − min)/31, as int4 asym with 31 steps.</item>
/// </list>
/// The K-quants have no closed form (their sub-block scales are searched and then quantized to 6 or
/// 8 bits): they are held to ggml's own bytes in QuantGgmlVectorTests and to an RMS bound here.
/// plus a relative 2e-6 of the block's range for f32 rounding of x·(1/d) near a rounding boundary and in the dequantize.
/// </summary>
public class QuantRoundTripTests
{
    /// <summary>The block types with a closed-form round-to-nearest bound (all but the K-quants).</summary>
    public static TheoryData<ElementType> FormulaTypes()
    {
        var data = new TheoryData<ElementType>();
        foreach (var row in ElementTypes.All)
        {
            if (row.IsQuantized && row.Kind is not (QuantKind.K4 or QuantKind.K6)) data.Add(row.Type);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(FormulaTypes))]
    public void Ramp_round_trips_within_the_bound(ElementType type)
    {
        int n = 4 * 128;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (i - n / 3) * 0.0137f;
        AssertWithinBound(type, x);
    }

    [Theory]
    [MemberData(nameof(FormulaTypes))]
    public void Seeded_random_rows_round_trip_within_the_bound(ElementType type)
    {
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var x = QuantKernelTests.Gaussian(1536, seed, seed % 2 == 0 ? 0.02f : 3f);
            if (seed % 3 == 0) x[5] = 40f; // an outlier: one block with a large scale
            AssertWithinBound(type, x);
        }
    }

    [Fact]
    public void Measured_worst_errors_relative_to_block_scale_are_below_the_bounds()
    {
        // What the bounds look like in practice on Gaussian rows (reported in docs/quantization.md):
        // the worst |x − x'| / d stays at or under 1/2 (+ the f16 term) for int8 and int4 asym.
        foreach (var type in new[] { ElementType.Q8_0, ElementType.Q4_1 })
        {
            var x = QuantKernelTests.Gaussian(32 * 1000, 77);
            var back = new float[x.Length];
            QuantOps.Dequantize(type, QuantKernelTests.QuantizeRow(type, x), back);
            double worst = 0;
            for (int b = 0; b < 1000; b++)
            {
                var (d, _, _) = Scale(type, x.AsSpan(b * 32, 32));
                for (int j = b * 32; j < (b + 1) * 32; j++) worst = Math.Max(worst, Math.Abs(x[j] - back[j]) / Math.Abs(d));
            }
            Assert.InRange(worst, 0.45, 0.5 + (type == ElementType.Q8_0 ? 127 : 15) * Math.Pow(2, -11));
        }
    }

    /// <summary>The f32 scale the formulas give for one block, its f16 error, and the f16 error of the min.</summary>
    private static (float D, double DErr, double MErr) Scale(ElementType type, ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0, min = float.MaxValue, hi = float.MinValue;
        foreach (var v in x)
        {
            if (Math.Abs(v) > amax) { amax = Math.Abs(v); max = v; }
            min = Math.Min(min, v);
            hi = Math.Max(hi, v);
        }
        float d = type.Info().Kind switch
        {
            QuantKind.Int8Symmetric => amax / 127f,
            QuantKind.Int4Symmetric => max / -8f,
            QuantKind.Int4Asymmetric => (hi - min) / 15f,
            QuantKind.Int5Symmetric => max / -16f,
            QuantKind.Int5Asymmetric => (hi - min) / 31f,
            _ => throw new ArgumentException($"{type.Info().Name} has no closed-form scale"),
        };
        return (d, Math.Abs(d - (float)(Half)d), Math.Abs(min - (float)(Half)min));
    }

    private static void AssertWithinBound(ElementType type, float[] x)
    {
        var info = type.Info();
        int g = info.BlockValues;
        var back = new float[x.Length];
        QuantOps.Dequantize(type, QuantKernelTests.QuantizeRow(type, x), back);
        for (int b = 0; b < x.Length / g; b++)
        {
            var block = x.AsSpan(b * g, g);
            var (d, dErr, mErr) = Scale(type, block);
            float range = 0;
            foreach (var v in block) range = Math.Max(range, Math.Abs(v));
            double slack = 2e-6 * range;
            for (int j = 0; j < g; j++)
            {
                float v = block[j];
                double bound = info.Kind switch
                {
                    QuantKind.Int8Symmetric => d / 2.0 + 127 * dErr,
                    QuantKind.Int4Symmetric => (v / d > 7.5f ? Math.Abs(d) : Math.Abs(d) / 2.0) + 8 * dErr,
                    QuantKind.Int4Asymmetric => d / 2.0 + 15 * dErr + mErr,
                    QuantKind.Int5Symmetric => (v / d > 15.5f ? Math.Abs(d) : Math.Abs(d) / 2.0) + 16 * dErr,
                    QuantKind.Int5Asymmetric => d / 2.0 + 31 * dErr + mErr,
                    _ => throw new ArgumentException($"{info.Name} has no closed-form bound"),
                } + slack;
                double err = Math.Abs(v - back[b * g + j]);
                Assert.True(err <= bound, $"{info.Name} block {b} value {j}: x {v} x' {back[b * g + j]} error {err} bound {bound}");
            }
        }
    }
}
