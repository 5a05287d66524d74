using MobileLlmConvert.Core.IO;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>Where a verb writes: results to stdout, progress and diagnostics to stderr.</summary>
public sealed class CliContext(TextWriter stdout, TextWriter stderr, bool isTerminal)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    /// <summary>Progress bars only on an interactive terminal: CI logs get the summary line alone.</summary>
    public bool IsTerminal { get; } = isTerminal;

    public IProgress<ConversionProgress>? Progress() => IsTerminal ? new ProgressBar(Err, TimeProvider.System) : null;

    public void Warn(string message) => Err.WriteLine(CliApp.Line($"mlconvert: warning: {message}"));
}
