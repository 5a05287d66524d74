namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>Statistics of per-position values, computed the same way everywhere a figure is reported.</summary>
public static class KlSummary
{
    /// <summary>z of a two-sided 95% normal interval.</summary>
    private const double Z95 = 1.959963984540054;

    /// <summary>Mean, p50, p90, p99, p99.9 and max of <paramref name="values"/> (percentiles as <see cref="Percentile"/>).</summary>
    public static KlStats Stats(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new KlStats(0, 0, 0, 0, 0, 0);
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return new KlStats(Mean(values), Percentile(sorted, 0.5), Percentile(sorted, 0.9), Percentile(sorted, 0.99),
            Percentile(sorted, 0.999), sorted[^1]);
    }

    /// <summary>
    /// Linear interpolation between the closest ranks (numpy's default "linear" method): rank
    /// h = (n − 1)·q, value sorted[⌊h⌋] + (h − ⌊h⌋)·(sorted[⌊h⌋+1] − sorted[⌊h⌋]).
    /// </summary>
    public static double Percentile(double[] sorted, double q)
    {
        if (sorted.Length == 0) throw new ArgumentException("no values", nameof(sorted));
        double h = (sorted.Length - 1) * q;
        int lo = (int)Math.Floor(h);
        if (lo >= sorted.Length - 1) return sorted[^1];
        return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
    }

    /// <summary>Sum in index order divided by the count (0 for none).</summary>
    public static double Mean(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return 0;
        double sum = 0;
        foreach (var v in values) sum += v;
        return sum / values.Count;
    }

    /// <summary>
    /// 95% interval for the mean by the normal approximation over positions: mean ± 1.96·s/√n with s
    /// the sample standard deviation. It treats positions as independent; neighbouring positions of one
    /// text are correlated, so read it as a lower bound on the uncertainty. Deterministic (no resampling).
    /// </summary>
    public static (double Low, double High) MeanCi95(IReadOnlyList<double> values)
    {
        int n = values.Count;
        double mean = Mean(values);
        if (n < 2) return (mean, mean);
        double ss = 0;
        foreach (var v in values) ss += (v - mean) * (v - mean);
        double half = Z95 * Math.Sqrt(ss / (n - 1) / n);
        return (mean - half, mean + half);
    }

    /// <summary>Root of the mean square (0 for none).</summary>
    public static double Rms(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return 0;
        double ss = 0;
        foreach (var v in values) ss += v * v;
        return Math.Sqrt(ss / values.Count);
    }
}
