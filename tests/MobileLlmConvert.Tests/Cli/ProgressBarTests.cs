using MobileLlmConvert.Cli;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.IO;

namespace MobileLlmConvert.Tests.Cli;

/// <summary>What the progress bar draws, driven by a fake clock (no timing assertions).</summary>
public sealed class ProgressBarTests
{
    /// <summary>A clock that moves only when the test says so; one tick is one millisecond.</summary>
    private sealed class FakeClock : TimeProvider
    {
        public long Milliseconds { get; set; }
        public override long TimestampFrequency => 1000;
        public override long GetTimestamp() => Milliseconds;
    }

    private const long MiB = 1 << 20;

    [Fact]
    public void ABytesStageShowsDoneTotalRateAndEta()
    {
        string line = ProgressBar.Render(new ConversionProgress("write", 4 * MiB, 10 * MiB, "model.layers.0.mlp.up_proj.weight"), TimeSpan.FromSeconds(2));
        Assert.Equal("write   [#########...............]  40%  4.0/10.0 MiB  2.0 MiB/s  ETA 0:03  …del.layers.0.mlp.up_proj.weight", line);
    }

    [Fact]
    public void AnItemsStageCountsItemsAndAFinishedStageHasNoEta()
    {
        Assert.Equal("passes  [........................]   0%  0/7", ProgressBar.Render(new ConversionProgress("passes", 0, 7, null, ProgressUnit.Items), TimeSpan.Zero));
        Assert.Equal("passes  [########################] 100%  7/7  3.5 items/s  FoldGqa",
            ProgressBar.Render(new ConversionProgress("passes", 7, 7, "FoldGqa", ProgressUnit.Items), TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void TheEtaGrowsToHoursAndAHostileItemNameIsEscaped()
    {
        string line = ProgressBar.Render(new ConversionProgress("hash", 1 * MiB, 8000 * MiB, "a\u001b[2Jb"), TimeSpan.FromSeconds(1));
        Assert.Equal("hash    [........................]   0%  1.0/8000.0 MiB  1.0 MiB/s  ETA 2:13:19  a\\x1b[2Jb", line);
    }

    [Fact]
    public void RedrawsAreThrottledPerStageAndEachStageEndsItsLine()
    {
        var clock = new FakeClock();
        var err = new StringWriter();
        var bar = new ProgressBar(err, clock);
        bar.Report(new ConversionProgress("hash", 1, 4, null, ProgressUnit.Items));
        clock.Milliseconds = 50;
        bar.Report(new ConversionProgress("hash", 2, 4, null, ProgressUnit.Items)); // within 100 ms: not drawn
        clock.Milliseconds = 1000;
        bar.Report(new ConversionProgress("hash", 3, 4, null, ProgressUnit.Items));
        clock.Milliseconds = 1010;
        bar.Report(new ConversionProgress("hash", 4, 4, null, ProgressUnit.Items)); // the last report is always drawn
        clock.Milliseconds = 2000;
        bar.Report(new ConversionProgress("write", 1 * MiB, 2 * MiB));
        clock.Milliseconds = 3000;
        bar.Report(new ConversionProgress("write", 2 * MiB, 2 * MiB));

        var draws = err.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries);
        string threeQuarters = "hash    [##################......]  75%  3/4  3.0 items/s  ETA 0:01";
        Assert.Equal(
        [
            "hash    [######..................]  25%  1/4",
            threeQuarters,
            // Padded with spaces over the longer line before it: '\r' does not clear.
            "hash    [########################] 100%  4/4  4.0 items/s".PadRight(threeQuarters.Length) + Environment.NewLine,
            "write   [############............]  50%  1.0/2.0 MiB",
            "write   [########################] 100%  2.0/2.0 MiB  2.0 MiB/s" + Environment.NewLine,
        ], draws);
    }

    /// <summary>A conversion on a terminal draws the write stage to 100%; piped, stderr holds the summary alone.</summary>
    [Fact]
    public void TheBarIsDrawnOnATerminalOnly()
    {
        using var dir = new TempDir();
        string tiny = Path.Combine(Fixtures.FixtureCatalog.RepoRoot, "testdata", "models", "llama-tiny");
        string[] Args(string name) => ["convert", tiny, "--to", "gguf", "-o", dir[name]];

        var piped = CliRunner.Run(Args("a.gguf"));
        Assert.True(piped.ExitCode == 0, piped.ToString());
        Assert.DoesNotContain('\r', piped.Stderr);

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(0, CliApp.Run(Args("b.gguf"), stdout, stderr, isTerminal: true));
        var draws = stderr.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(draws, d => d.StartsWith("write   [########################] 100%", StringComparison.Ordinal));
        Assert.Equal("", stdout.ToString());
        Assert.True(File.ReadAllBytes(dir["a.gguf"]).AsSpan().SequenceEqual(File.ReadAllBytes(dir["b.gguf"])), "the bar does not change the output");
    }
}
