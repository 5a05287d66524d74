using MobileLlmConvert.Cli;

namespace MobileLlmConvert.Tests.TestSupport;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Runs `mlconvert` in-process, exactly as the executable does, capturing both streams.</summary>
public static class CliRunner
{
    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr, isTerminal: false);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }
}
