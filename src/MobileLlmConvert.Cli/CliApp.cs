using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Cli.Verbs;
using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Cli;

/// <summary>
/// Builds the `mlconvert` command tree and turns every failure into the documented exit codes:
/// 0 ok, 1 a check failed (verify over its threshold), 2 bad input or usage, 3 an internal error.
/// Every failure is one stderr line starting `mlconvert: error: ` (never a stack trace) and, with
/// --json, also the error document on stdout (JsonContract.WriteError).
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
        var root = BuildRoot(ctx);
        var parse = root.Parse(args);
        var command = parse.CommandResult.Command;
        string? verb = ReferenceEquals(command, root) ? null : command.Name;
        bool json = args.TakeWhile(a => a != "--").Contains("--json");
        if (parse.Errors.Count > 0) return Fail(CliError.Usage(ParseErrorText(root, command, parse, args)), null, verb, json, stdout, stderr);
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            return Fail(CliError.From(ex), ex, verb, json, stdout, stderr);
        }
    }

    internal static RootCommand BuildRoot(CliContext ctx)
    {
        var root = new RootCommand("mlconvert: converts small on-device LLM checkpoints (MobileLLM, MobiLlama, Llama) to GGUF and a compact mobile format, and verifies them.");
        IVerb[] verbs =
        [
            new InspectVerb(), new LogitsVerb(), new GenerateVerb(), new ConvertVerb(), new Hf2MobileVerb(),
            new VerifyVerb(), new DiffVerb(), new BenchVerb(), new SynthVerb(), new TokenizeVerb(),
        ];
        foreach (var verb in verbs) root.Subcommands.Add(verb.Build(ctx));
        // System.CommandLine's --version reads the entry assembly (a test host's, in-process): name ours.
        root.Options.OfType<VersionOption>().Single().Action = new PrintVersion(ctx.Out);
        return root;
    }

    /// <summary>The tool version: this assembly's informational version (the package version, then +commit).</summary>
    public static string Version { get; } =
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private sealed class PrintVersion(TextWriter stdout) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            stdout.WriteLine(Version);
            return ExitOk;
        }
    }

    /// <summary>The stderr line (and, with --json, the error document) for a failure outside a verb's own output.</summary>
    internal static int ReportFailure(Exception ex, TextWriter stderr) => Fail(CliError.From(ex), ex, null, false, TextWriter.Null, stderr);

    private static int Fail(CliError error, Exception? ex, string? verb, bool json, TextWriter stdout, TextWriter stderr)
    {
        stderr.WriteLine(error.Line);
        // A bug of ours: MLC_DEBUG=1 adds the stack trace after the one line.
        if (error.Exit == ExitInternal && ex is not null && Environment.GetEnvironmentVariable("MLC_DEBUG") == "1") stderr.WriteLine(ex);
        if (json) JsonContract.WriteError(stdout, verb, error);
        return error.Exit;
    }

    /// <summary>
    /// One line for a command line System.CommandLine rejects (it would print every error plus the
    /// help text; CI logs want one line): a misspelled verb or option names the nearest known one.
    /// </summary>
    private static string ParseErrorText(RootCommand root, Command command, ParseResult parse, string[] args)
    {
        bool atRoot = ReferenceEquals(command, root);
        string help = atRoot ? "mlconvert --help" : $"mlconvert {command.Name} --help";
        if (atRoot && args.Length > 0 && !args[0].StartsWith('-'))
        {
            string? verb = Suggest.Nearest(args[0], root.Subcommands.Select(c => c.Name));
            return $"'{args[0]}' is not a verb" + (verb is null ? "" : $"; did you mean '{verb}'?") + $" (try '{help}')";
        }
        if (parse.UnmatchedTokens.FirstOrDefault(t => t.StartsWith('-') && t.Length > 1) is { } option)
        {
            var names = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal));
            string? near = Suggest.Nearest(option, names);
            return $"unknown option '{option}'" + (near is null ? "" : $"; did you mean '{near}'?") + $" (try '{help}')";
        }
        string message = string.Join(' ', parse.Errors[0].Message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return $"{TypeWords(message)} (try '{help}')";
    }

    /// <summary>System.CommandLine names the .NET type a value failed to parse as; say what the user must type.</summary>
    private static string TypeWords(string message)
    {
        foreach (var (type, words) in new[]
        {
            ("System.Int32", "an integer"), ("System.Int64", "an integer"), ("System.UInt64", "a non-negative integer"),
            ("System.Single", "a number"), ("System.Double", "a number"), ("System.Boolean", "true or false"),
        })
        {
            message = message.Replace($"as expected type '{type}'", $"as {words}", StringComparison.Ordinal);
        }
        return message;
    }

    /// <summary>One line whatever the message holds: every control character escaped, line breaks included.</summary>
    internal static string Line(string message) => MessageText.Escape(message);
}
