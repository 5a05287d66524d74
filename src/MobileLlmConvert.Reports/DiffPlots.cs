using System.Globalization;
using MobileLlmConvert.Runtime.Evaluation;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace MobileLlmConvert.Reports;

/// <summary>
/// The report's figures, rendered by ScottPlot to PNG bytes. Sizes are fixed constants and nothing
/// in a figure depends on the clock or the machine's culture, so the same data gives the same bytes.
/// </summary>
internal static class DiffPlots
{
    public const int HistogramWidth = 560, HistogramHeight = 320;
    public const int CurveWidth = 1100, CurveHeight = 360;
    public const int BarWidth = 1100, BarRowHeight = 22, BarChromeHeight = 110;

    /// <summary>Bars shown per candidate in the per-tensor chart; the full ranking is in the table below it.</summary>
    public const int MaxTensorBars = 20;

    /// <summary>Characters of a tensor label or legend entry drawn in a figure (the tables show them whole).</summary>
    public const int MaxLabelChars = 64;

    /// <summary>Above this many steps only every k-th step gets a tick label, so labels never overlap.</summary>
    public const int MaxStepLabels = 32;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Histogram of log10 KL with the mean and p99 marked.</summary>
    public static byte[] KlHistogram(CandidateDiff c, LogHistogram h, string legend)
    {
        var plot = NewPlot();
        var bars = new List<Bar>();
        for (int i = 0; i < h.Counts.Length; i++)
        {
            bars.Add(new Bar { Position = h.Center(i), Value = h.Counts[i], Size = h.BinWidth * 0.92, FillColor = Colors.SteelBlue, LineWidth = 0 });
        }
        plot.Add.Bars(bars);
        MarkOnLogAxis(plot, c.Kl.Mean, "mean", Colors.DarkOrange);
        MarkOnLogAxis(plot, c.Kl.P99, "p99", Colors.Crimson);
        plot.Axes.Bottom.TickGenerator = DecadeTicks(h.Log10Low, h.Log10High);
        plot.Axes.SetLimitsX(h.Log10Low, h.Log10High);
        plot.Axes.Margins(bottom: 0);
        plot.Title(HtmlText.Label(legend, MaxLabelChars), 13);
        plot.XLabel("KL(ref ‖ cand) per position (log scale)", 12);
        plot.YLabel("positions", 12);
        return Png(plot, HistogramWidth, HistogramHeight);
    }

    private static void MarkOnLogAxis(Plot plot, double value, string label, Color color)
    {
        if (!(value > 0) || !double.IsFinite(value)) return;
        var line = plot.Add.VerticalLine(Math.Log10(value), 1.5f, color, LinePattern.Dashed);
        line.LegendText = $"{label} {HtmlText.Small(value)}";
        plot.ShowLegend(Alignment.UpperLeft);
    }

    /// <summary>One line per candidate over execution steps; log10 y when every value is positive (error grows by decades).</summary>
    public static byte[] LayerCurve(IReadOnlyList<(string Legend, IReadOnlyList<LayerError> Layers)> series, Func<LayerError, double> value, string yLabel, bool logWhenPositive)
    {
        var plot = NewPlot();
        var all = series.SelectMany(s => s.Layers).ToList();
        bool log = logWhenPositive && all.Count > 0 && all.All(l => value(l) > 0 && double.IsFinite(value(l)));
        for (int i = 0; i < series.Count; i++)
        {
            var layers = series[i].Layers.OrderBy(l => l.Step).ToList();
            double[] xs = layers.Select(l => (double)l.Step).ToArray();
            double[] ys = layers.Select(l => log ? Math.Log10(value(l)) : value(l)).Select(y => double.IsFinite(y) ? y : double.NaN).ToArray();
            var line = plot.Add.Scatter(xs, ys, Palette(i));
            line.LineWidth = 2;
            line.MarkerSize = 5;
            line.LegendText = HtmlText.Label(series[i].Legend, MaxLabelChars);
        }
        plot.Axes.Bottom.TickGenerator = StepTicks(all);
        if (log)
        {
            var finite = all.Select(l => Math.Log10(value(l))).ToList();
            plot.Axes.Left.TickGenerator = DecadeTicks(Math.Floor(finite.Min()), Math.Ceiling(finite.Max()));
        }
        plot.XLabel("execution step  [stored block, where it differs]", 12);
        plot.YLabel(yLabel + (log ? " (log scale)" : ""), 12);
        // Below the axes: inside, a legend hides the start of a cosine curve (near 1) or the end of an error curve.
        plot.ShowLegend(Edge.Bottom);
        return Png(plot, CurveWidth, CurveHeight);
    }

    /// <summary>Horizontal bars of the KL each tensor adds alone, largest on top; a tensor serving several steps names them.</summary>
    public static byte[] TensorBars(IReadOnlyList<TensorDelta> ranked, string legend)
    {
        var top = ranked.Take(MaxTensorBars).ToList();
        var plot = NewPlot();
        var bars = new List<Bar>();
        var ticks = new NumericManual();
        for (int i = 0; i < top.Count; i++)
        {
            double y = top.Count - 1 - i;
            bars.Add(new Bar { Position = y, Value = double.IsFinite(top[i].DeltaKl) ? top[i].DeltaKl : 0, Size = 0.7, FillColor = top[i].DeltaKl >= 0 ? Colors.SteelBlue : Colors.Gray, LineWidth = 0 });
            ticks.AddMajor(y, TensorLabel(top[i]));
        }
        var plottable = plot.Add.Bars(bars);
        plottable.Horizontal = true;
        plot.Axes.Left.TickGenerator = ticks;
        plot.Axes.Bottom.TickGenerator = new NumericAutomatic { LabelFormatter = HtmlText.Small };
        plot.Axes.Margins(left: 0);
        plot.Title(HtmlText.Label(legend, MaxLabelChars) + (ranked.Count > top.Count ? $"  (top {top.Count} of {ranked.Count})" : ""), 13);
        plot.XLabel("KL added when only this tensor comes from the candidate", 12);
        return Png(plot, BarWidth, BarChromeHeight + BarRowHeight * Math.Max(top.Count, 1));
    }

    public static string TensorLabel(TensorDelta t)
    {
        string steps = t.Steps.Count switch
        {
            0 => "",
            1 => $" · step {t.Steps[0].ToString(Inv)}",
            _ => $" · steps {StepRanges(t.Steps)}",
        };
        string suffix = $" ({HtmlText.Label(t.TypeCand, 12)}){HtmlText.Label(steps, 24)}";
        return HtmlText.Label(t.Name, Math.Max(16, MaxLabelChars - suffix.Length)) + suffix;
    }

    /// <summary>
    /// A sans face the page's CSS also asks for, when the machine has it. SkiaSharp's dependency-free
    /// Linux build finds fonts by scanning the font directories, and its default face there is
    /// whichever it met first (often a serif); naming one keeps figures alike across runs.
    /// </summary>
    private static readonly string? PlotFont = new[] { "DejaVu Sans", "Liberation Sans", "Arial" }
        .FirstOrDefault(f => SkiaSharp.SKFontManager.Default.GetFontFamilies().Contains(f, StringComparer.Ordinal));

    /// <summary>"2,3" for two steps, runs of three or more as "0-29", so a tensor serving every step stays one short label.</summary>
    public static string StepRanges(IReadOnlyList<int> steps)
    {
        var sorted = steps.Distinct().Order().ToList();
        var parts = new List<string>();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            if (j - i >= 2) parts.Add(sorted[i].ToString(Inv) + "-" + sorted[j].ToString(Inv));
            else for (int k = i; k <= j; k++) parts.Add(sorted[k].ToString(Inv));
            i = j + 1;
        }
        return string.Join(",", parts);
    }

    private static Plot NewPlot()
    {
        var plot = new Plot();
        if (PlotFont is not null) plot.Font.Set(PlotFont);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Colors.White;
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(0.12);
        return plot;
    }

    /// <summary>
    /// Major ticks at each power of ten labelled 1e-k, minor ticks at 2..9 times it; over two decades
    /// or less the 2x and 5x ticks are labelled too, so the axis has more than two numbers.
    /// </summary>
    private static NumericManual DecadeTicks(double log10Low, double log10High)
    {
        var ticks = new NumericManual();
        bool labelMinor = log10High - log10Low <= 2;
        for (int d = (int)Math.Floor(log10Low); d <= (int)Math.Ceiling(log10High); d++)
        {
            if (d >= log10Low - 1e-9 && d <= log10High + 1e-9) ticks.AddMajor(d, Power(1, d));
            for (int k = 2; k <= 9; k++)
            {
                double m = d + Math.Log10(k);
                if (m <= log10Low || m >= log10High) continue;
                if (labelMinor && k is 2 or 5) ticks.AddMajor(m, Power(k, d));
                else ticks.AddMinor(m);
            }
        }
        return ticks;

        static string Power(int k, int d) => d switch
        {
            0 => k.ToString(Inv),
            1 => (k * 10).ToString(Inv),
            _ => k.ToString(Inv) + "e" + d.ToString(Inv),
        };
    }

    /// <summary>Integer step ticks; the stored block is shown under the step when they differ (a shared block).</summary>
    private static NumericManual StepTicks(IReadOnlyList<LayerError> layers)
    {
        var ticks = new NumericManual();
        var steps = layers.GroupBy(l => l.Step).Select(g => g.First()).OrderBy(l => l.Step).ToList();
        int every = Math.Max(1, (steps.Count + MaxStepLabels - 1) / MaxStepLabels);
        for (int i = 0; i < steps.Count; i++)
        {
            var l = steps[i];
            if (i % every != 0) { ticks.AddMinor(l.Step); continue; }
            string label = l.Step.ToString(Inv) + (l.StoredBlock != l.Step ? "\n[" + l.StoredBlock.ToString(Inv) + "]" : "");
            ticks.AddMajor(l.Step, label);
        }
        return ticks;
    }

    public static Color Palette(int i) => new ScottPlot.Palettes.Category10().GetColor(i);

    private static byte[] Png(Plot plot, int width, int height) => plot.GetImageBytes(width, height, ImageFormat.Png);
}
