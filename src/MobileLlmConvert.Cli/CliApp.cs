using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Cli.Verbs;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Cli;

/// <summary>
/// Builds the `mlconvert` command tree and turns every failure into the documented exit codes:
/// 0 ok, 1 a check failed (verify over its threshold), 2 bad input or usage (one line on stderr
/// naming file, field and value; never a stack trace), 3 an internal error.
/// </summary>
public static class CliApp
{
    public const int ExitOk = 0;
    public const int ExitCheckFailed = 1;
    public const int ExitBadInput = 2;
    public const int ExitInternal = 3;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool? isTerminal = null)
    {
        var ctx = new CliContext(stdout, stderr, isTerminal ?? (!Console.IsErrorRedirected && ReferenceEquals(stderr, Console.Error)));
        var root = new RootCommand("mlconvert: converts small on-device LLM checkpoints (MobileLLM, MobiLlama, Llama) to GGUF and a compact mobile format, and verifies them.");
        IVerb[] verbs =
        [
            new InspectVerb(), new LogitsVerb(), new GenerateVerb(), new ConvertVerb(), new Hf2MobileVerb(),
            new VerifyVerb(), new DiffVerb(), new BenchVerb(), new SynthVerb(), new TokenizeVerb(),
        ];
        foreach (var verb in verbs) root.Subcommands.Add(verb.Build(ctx));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // System.CommandLine would print every error plus the help text; CI logs want one line.
            string message = string.Join(' ', parse.Errors[0].Message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            stderr.WriteLine(Line($"mlconvert: {message} (try 'mlconvert {FirstVerb(args)}--help')"));
            return ExitBadInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            return ReportFailure(ex, stderr);
        }
    }

    /// <summary>
    /// The one place failures become stderr lines. Every line goes through <see cref="Line"/>:
    /// control characters escaped (MessageText.Escape), so a path or value from a hostile file can
    /// neither drive the terminal nor forge a second line.
    /// </summary>
    internal static int ReportFailure(Exception ex, TextWriter stderr)
    {
        switch (ex)
        {
            case ModelFormatException fmt:
                stderr.WriteLine(Line($"mlconvert: error: {fmt.Message}"));
                return ExitBadInput;
            case UsageException or QuantPolicyException:
                stderr.WriteLine(Line($"mlconvert: {ex.Message}"));
                return ExitBadInput;
            case InvalidDataException data:
                // Weights that cannot be converted (a NaN the quantizer refuses): bad input, not a bug.
                stderr.WriteLine(Line($"mlconvert: error: {data.Message}"));
                return ExitBadInput;
            case FileNotFoundException fnf:
                stderr.WriteLine(Line($"mlconvert: error: {fnf.FileName ?? "(file)"}: not found"));
                return ExitBadInput;
            case DirectoryNotFoundException or UnauthorizedAccessException or IOException:
                stderr.WriteLine(Line($"mlconvert: error: {ex.Message}"));
                return ExitBadInput;
            case OperationCanceledException:
                stderr.WriteLine("mlconvert: cancelled");
                return ExitBadInput;
            default:
                // A bug of ours, not bad input: say so in one line; MLC_DEBUG=1 shows the trace.
                stderr.WriteLine(Line($"mlconvert: internal error ({ex.GetType().Name}): {ex.Message}"));
                if (Environment.GetEnvironmentVariable("MLC_DEBUG") == "1") stderr.WriteLine(ex);
                return ExitInternal;
        }
    }

    /// <summary>One line whatever the message holds: every control character escaped, line breaks included.</summary>
    internal static string Line(string message) => MessageText.Escape(message);

    private static string FirstVerb(string[] args) => args.Length > 0 && !args[0].StartsWith('-') ? args[0] + " " : "";
}
