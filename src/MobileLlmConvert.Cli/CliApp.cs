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
            new VerifyVerb(), new BenchVerb(), new SynthVerb(), new TokenizeVerb(),
        ];
        foreach (var verb in verbs) root.Subcommands.Add(verb.Build(ctx));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // System.CommandLine would print every error plus the help text; CI logs want one line.
            string message = string.Join(' ', parse.Errors[0].Message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            stderr.WriteLine($"mlconvert: {message} (try 'mlconvert {FirstVerb(args)}--help')");
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

    internal static int ReportFailure(Exception ex, TextWriter stderr)
    {
        switch (ex)
        {
            case ModelFormatException fmt:
                stderr.WriteLine($"mlconvert: error: {fmt.Message}");
                return ExitBadInput;
            case UsageException or QuantPolicyException:
                stderr.WriteLine($"mlconvert: {ex.Message}");
                return ExitBadInput;
            case InvalidDataException data:
                // Weights that cannot be converted (a NaN the quantizer refuses): bad input, not a bug.
                stderr.WriteLine($"mlconvert: error: {data.Message.ReplaceLineEndings(" ")}");
                return ExitBadInput;
            case FileNotFoundException fnf:
                stderr.WriteLine($"mlconvert: error: {fnf.FileName ?? "(file)"}: not found");
                return ExitBadInput;
            case DirectoryNotFoundException or UnauthorizedAccessException or IOException:
                stderr.WriteLine($"mlconvert: error: {ex.Message.ReplaceLineEndings(" ")}");
                return ExitBadInput;
            case OperationCanceledException:
                stderr.WriteLine("mlconvert: cancelled");
                return ExitBadInput;
            default:
                // A bug of ours, not bad input: say so in one line; MLC_DEBUG=1 shows the trace.
                stderr.WriteLine($"mlconvert: internal error ({ex.GetType().Name}): {ex.Message.ReplaceLineEndings(" ")}");
                if (Environment.GetEnvironmentVariable("MLC_DEBUG") == "1") stderr.WriteLine(ex);
                return ExitInternal;
        }
    }

    private static string FirstVerb(string[] args) => args.Length > 0 && !args[0].StartsWith('-') ? args[0] + " " : "";
}
