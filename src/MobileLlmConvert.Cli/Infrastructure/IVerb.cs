using System.CommandLine;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>One CLI verb: builds its command; the action runs inside CliApp's error handling.</summary>
public interface IVerb
{
    Command Build(CliContext ctx);
}

/// <summary>Bad command-line usage discovered after parsing (a value out of range, conflicting options): exit 2.</summary>
public sealed class UsageException(string message) : Exception(message);
