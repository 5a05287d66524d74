using System.Globalization;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.IO;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// A one-line progress bar redrawn in place on stderr (only on a terminal, see CliContext):
/// <c>write   [########......]  45%  12.0/27.0 MiB  8.1 MiB/s  ETA 0:02  model.layers.3...</c>.
/// Rate and ETA are measured from the stage's first report, so each stage (hash, passes, write)
/// gets its own; redraws are throttled to ~10 a second, and a stage's last report is always drawn
/// and ends the line. The clock is a <see cref="TimeProvider"/> so tests drive it.
/// </summary>
internal sealed class ProgressBar(TextWriter err, TimeProvider time) : IProgress<ConversionProgress>
{
    private const int Width = 24;
    private const int ItemChars = 32;
    private static readonly TimeSpan RedrawEvery = TimeSpan.FromMilliseconds(100);

    private string? _stage;
    private long _stageStart;
    private long _lastDraw;
    private bool _open;
    private int _lastLength;

    public void Report(ConversionProgress value)
    {
        long now = time.GetTimestamp();
        bool done = value.Total > 0 && value.Done >= value.Total;
        if (value.Stage != _stage)
        {
            if (_open) err.WriteLine();
            _stage = value.Stage;
            _stageStart = now;
            _open = false;
        }
        else if (!done && _open && time.GetElapsedTime(_lastDraw, now) < RedrawEvery)
        {
            return;
        }
        _lastDraw = now;
        string line = Render(value, time.GetElapsedTime(_stageStart, now));
        // Pad over a longer previous line: '\r' returns the cursor but does not clear.
        err.Write("\r" + line.PadRight(_lastLength));
        _lastLength = line.Length;
        _open = true;
        if (done)
        {
            err.WriteLine();
            _open = false;
            _lastLength = 0;
        }
    }

    /// <summary>The bar's text for one report, <paramref name="elapsed"/> after the stage began.</summary>
    internal static string Render(ConversionProgress p, TimeSpan elapsed)
    {
        double fraction = p.Total > 0 ? Math.Clamp((double)p.Done / p.Total, 0, 1) : 0;
        int filled = (int)(fraction * Width);
        var s = string.Create(CultureInfo.InvariantCulture,
            $"{p.Stage,-7} [{new string('#', filled)}{new string('.', Width - filled)}] {fraction * 100,3:0}%  {Amount(p.Done, p.Total, p.Unit)}");
        double seconds = elapsed.TotalSeconds;
        if (seconds > 0 && p.Done > 0)
        {
            double rate = p.Done / seconds;
            s += "  " + Rate(rate, p.Unit);
            if (p.Total > p.Done) s += "  ETA " + Clock((p.Total - p.Done) / rate);
        }
        string item = MessageText.Escape(p.Item ?? "");
        if (item.Length > ItemChars) item = "…" + item[^(ItemChars - 1)..];
        return item.Length > 0 ? s + "  " + item : s;
    }

    private static string Amount(long done, long total, ProgressUnit unit) => unit == ProgressUnit.Bytes
        ? string.Create(CultureInfo.InvariantCulture, $"{done / 1048576.0:0.0}/{total / 1048576.0:0.0} MiB")
        : $"{done}/{total}";

    private static string Rate(double perSecond, ProgressUnit unit) => unit == ProgressUnit.Bytes
        ? string.Create(CultureInfo.InvariantCulture, $"{perSecond / 1048576.0:0.0} MiB/s")
        : string.Create(CultureInfo.InvariantCulture, $"{perSecond:0.0} items/s");

    /// <summary>m:ss, or h:mm:ss from an hour; capped at 99 hours (a stalled first report).</summary>
    private static string Clock(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Min(Math.Ceiling(seconds), 99 * 3600));
        return t.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}:{t.Seconds:00}");
    }
}
