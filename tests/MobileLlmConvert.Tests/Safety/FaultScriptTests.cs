using System.Diagnostics;
using System.Text.RegularExpressions;
using MobileLlmConvert.Tests.Fixtures;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Safety;

/// <summary>
/// Runs bench/faults.sh --short (kill -9 at random moments, ENOSPC, read-only output, truncation
/// during read, concurrent writers) against the CLI built beside these tests, and requires every
/// case to pass. Skipped only when bash is missing.
/// </summary>
public sealed partial class FaultScriptTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_short_fault_injection_run_passes_every_case()
    {
        if (!File.Exists("/bin/bash") && !File.Exists("/usr/bin/bash"))
        {
            output.WriteLine("bash not found: fault script not run");
            return;
        }
        string script = Path.Combine(FixtureCatalog.RepoRoot, "bench", "faults.sh");
        string cli = Path.Combine(AppContext.BaseDirectory, "mlconvert.dll");
        var start = new ProcessStartInfo("bash", [script, "--short"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.Environment["MLCONVERT"] = $"dotnet {cli}";
        start.Environment["FAULTS_SEED"] = "9";
        using var process = Process.Start(start)!;
        var stderrTask = process.StandardError.ReadToEndAsync();
        string stdout = await process.StandardOutput.ReadToEndAsync();
        string stderr = await stderrTask;
        await process.WaitForExitAsync();
        output.WriteLine(stdout);
        output.WriteLine(stderr);
        var summary = Summary().Match(stdout);
        Assert.True(summary.Success, stdout + stderr);
        Assert.True(int.Parse(summary.Groups[1].Value) >= 12, summary.Value);
        Assert.Equal("0", summary.Groups[2].Value);
        Assert.Equal(0, process.ExitCode);
    }

    [GeneratedRegex(@"^faults: (\d+) cases, \d+ passed, (\d+) failed, \d+ skipped", RegexOptions.Multiline)]
    private static partial Regex Summary();
}
