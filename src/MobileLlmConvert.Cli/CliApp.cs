namespace MobileLlmConvert.Cli;

/// <summary>Entry point shared by the executable and in-process CLI tests.</summary>
public static class CliApp
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        stderr.WriteLine("mlconvert: no verbs yet");
        return 2;
    }
}
