namespace MobileLlmConvert.Reports;

/// <summary>
/// Counts of per-position KL in logarithmic bins. KL between a model and its quantized copy spans
/// many decades (1e-6 at easy positions, 1 and more where the top token flips), so equal-width bins
/// would put almost every position in the first bar. Bins are <see cref="BinsPerDecade"/> per decade
/// of log10(KL); positions with KL &lt;= 0 (identical distributions, or a rounding residue below zero)
/// and non-finite values cannot be placed on a log axis and are counted apart.
/// </summary>
internal sealed record LogHistogram(double Log10Low, double BinWidth, int[] Counts, int NonPositive, int NonFinite)
{
    public const int BinsPerDecade = 5;

    /// <summary>At most this many decades are shown below the largest KL; smaller values land in the first bin (a plot of 300 empty decades says nothing).</summary>
    public const int MaxDecades = 12;

    public int Placed => Counts.Sum();

    public double Log10High => Log10Low + BinWidth * Counts.Length;

    /// <summary>Center of bin <paramref name="i"/> in log10 units.</summary>
    public double Center(int i) => Log10Low + BinWidth * (i + 0.5);

    public static LogHistogram Of(IEnumerable<double> values)
    {
        int nonPositive = 0, nonFinite = 0;
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        var logs = new List<double>();
        foreach (double v in values)
        {
            if (!double.IsFinite(v)) { nonFinite++; continue; }
            if (v <= 0) { nonPositive++; continue; }
            double l = Math.Log10(v);
            logs.Add(l);
            min = Math.Min(min, l);
            max = Math.Max(max, l);
        }
        const double width = 1.0 / BinsPerDecade;
        if (logs.Count == 0) return new LogHistogram(0, width, [], nonPositive, nonFinite);

        // Bin edges sit on multiples of 1/BinsPerDecade so that decades start on an edge and the same
        // value always falls in the same bin whatever else is in the data.
        double high = Math.Floor(max * BinsPerDecade) / BinsPerDecade + width;
        double low = Math.Max(Math.Floor(min * BinsPerDecade) / BinsPerDecade, high - MaxDecades);
        int bins = (int)Math.Round((high - low) * BinsPerDecade);
        var counts = new int[bins];
        foreach (double l in logs)
        {
            int i = (int)Math.Floor((l - low) * BinsPerDecade);
            counts[Math.Clamp(i, 0, bins - 1)]++;
        }
        return new LogHistogram(low, width, counts, nonPositive, nonFinite);
    }
}
