namespace MobileLlmConvert.Reports.Tests;

public sealed class LogHistogramTests
{
    [Fact]
    public void Values_fall_in_fifth_of_a_decade_bins_and_zeros_and_non_finite_are_counted_apart()
    {
        var h = LogHistogram.Of([0, -1e-18, double.NaN, double.PositiveInfinity, 1e-5, 1.5e-5, 1.2e-2, 0.5]);
        Assert.Equal(2, h.NonPositive);
        Assert.Equal(2, h.NonFinite);
        Assert.Equal(4, h.Placed);
        Assert.Equal(-5, h.Log10Low, 12);
        Assert.Equal(-0.2, h.Log10High, 12);
        Assert.Equal(24, h.Counts.Length);
        Assert.Equal(2, h.Counts[0]);   // 1e-5 and 1.5e-5 (log10 -4.82) share [-5, -4.8)
        Assert.Equal(1, h.Counts[15]);  // 1.2e-2: log10 -1.92 in [-2, -1.8)
        Assert.Equal(1, h.Counts[23]);  // 0.5: log10 -0.30 in [-0.4, -0.2)
    }

    [Fact]
    public void At_most_twelve_decades_are_drawn_and_smaller_values_land_in_the_first_bin()
    {
        var h = LogHistogram.Of([1e-300, 1e-20, 1.0]);
        Assert.Equal(LogHistogram.MaxDecades * LogHistogram.BinsPerDecade, h.Counts.Length);
        Assert.Equal(2, h.Counts[0]);
        Assert.Equal(1, h.Counts[^1]);
    }

    [Fact]
    public void No_positive_value_gives_no_bins()
    {
        var h = LogHistogram.Of([0, 0, double.NaN]);
        Assert.Empty(h.Counts);
        Assert.Equal(2, h.NonPositive);
        Assert.Equal(1, h.NonFinite);
    }
}
