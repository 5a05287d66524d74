using System.CommandLine;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>`--threads` and `--quant-path`, shared by every verb that runs the executor.</summary>
internal sealed class ExecutorFlags(QuantPath defaultPath)
{
    // No DefaultValueFactory: help would print this machine's core count as "[default: N]" besides the description.
    private readonly Option<int?> _threads = new("--threads", "-t")
    {
        Description = "worker threads (default: all cores)",
    };

    private readonly Option<string> _quantPath = new("--quant-path")
    {
        Description = $"quantized matmuls: 'exact' (f32 activations, dequantized blocks) or 'fast' (int8 activations, integer dots); default {defaultPath.ToString().ToLowerInvariant()}",
    };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(_threads);
        cmd.Options.Add(_quantPath);
    }

    public int Threads(ParseResult parse)
    {
        int t = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        if (t < 1 || t > 256) throw new UsageException($"--threads: {t} is not between 1 and 256");
        return t;
    }

    public QuantPath Path(ParseResult parse) => parse.GetValue(_quantPath)?.ToLowerInvariant() switch
    {
        null => defaultPath,
        "exact" => QuantPath.Exact,
        "fast" => QuantPath.Fast,
        var other => throw new UsageException($"--quant-path: '{other}' is not 'exact' or 'fast'"),
    };

    public ExecutorOptions Options(ParseResult parse, int? maxContext = null, int? maxBatch = null)
    {
        var o = new ExecutorOptions { Threads = Threads(parse), QuantPath = Path(parse), MaxContext = maxContext };
        return maxBatch is { } b ? o with { MaxBatch = b } : o;
    }
}
