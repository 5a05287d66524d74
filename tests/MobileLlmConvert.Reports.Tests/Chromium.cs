using System.Diagnostics;

namespace MobileLlmConvert.Reports.Tests;

/// <summary>Debian's headless Chromium, run as a child process with its own profile directory.</summary>
internal static class Chromium
{
    /// <summary>A cold start on a busy 2-core machine takes seconds; this only stops a hung browser.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    public static string? Path { get; } = Find();

    private static string? Find()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string name in new[] { "chromium", "chromium-browser" })
            {
                string candidate = System.IO.Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }

    /// <summary>Runs chromium headless on a file; returns its stdout. --no-sandbox because CI runs as root, where the sandbox refuses to start.</summary>
    public static string Run(string workDir, string file, params string[] extra)
    {
        var start = new ProcessStartInfo(Path ?? throw new InvalidOperationException("chromium is not installed"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        foreach (string a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                     "--no-first-run", "--disable-extensions", "--force-device-scale-factor=1",
                     "--user-data-dir=" + System.IO.Path.Combine(workDir, "profile") })
            start.ArgumentList.Add(a);
        foreach (string a in extra) start.ArgumentList.Add(a);
        start.ArgumentList.Add(new Uri(file).AbsoluteUri);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"chromium did not finish in {Timeout.TotalSeconds} s");
        }
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"chromium exited {process.ExitCode}: {stderr.Result}");
        return stdout.Result;
    }
}

/// <summary>A fact that needs Chromium: skipped, saying why, only when it is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Path is null) Skip = "chromium is not installed (Debian: apt-get install -y chromium; run-tests.sh installs it as root): the report is not checked in a browser";
    }
}
