using System.Diagnostics;
using MobileLlmConvert.Core.IO;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>Where a verb writes: results to stdout, progress and diagnostics to stderr.</summary>
public sealed class CliContext(TextWriter stdout, TextWriter stderr, bool isTerminal)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    /// <summary>Progress bars only on an interactive terminal: CI logs get the summary line alone.</summary>
    public bool IsTerminal { get; } = isTerminal;

    public IProgress<ConversionProgress>? Progress() => IsTerminal ? new ProgressBar(Err) : null;

    public void Warn(string message) => Err.WriteLine(CliApp.Line($"mlconvert: warning: {message}"));
}

/// <summary>A one-line progress bar redrawn in place on stderr, throttled to ~10 redraws a second.</summary>
internal sealed class ProgressBar(TextWriter err) : IProgress<ConversionProgress>
{
    private const int Width = 30;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDrawMs = -1000;
    private string _lastStage = "";

    public void Report(ConversionProgress value)
    {
        long now = _clock.ElapsedMilliseconds;
        bool done = value.Total > 0 && value.Done >= value.Total;
        if (!done && value.Stage == _lastStage && now - _lastDrawMs < 100) return;
        _lastDrawMs = now;
        _lastStage = value.Stage;
        double fraction = value.Total > 0 ? Math.Clamp((double)value.Done / value.Total, 0, 1) : 0;
        int filled = (int)(fraction * Width);
        string escaped = Core.Errors.MessageText.Escape(value.Item ?? "");
        string item = escaped is { Length: > 40 } s ? "…" + s[^39..] : escaped;
        err.Write($"\r{value.Stage,-10} [{new string('#', filled)}{new string('.', Width - filled)}] {fraction,4:P0} {item,-40}");
        if (done) err.WriteLine();
    }
}
