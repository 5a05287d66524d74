using System.CommandLine;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>`--threads`, `--quant-path` and `--runtime`, shared by every verb that runs a model.</summary>
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

    private readonly Option<string> _runtime = new("--runtime")
    {
        Description = $"who computes the logits: 'ours' (the reference executor, default) or 'ort' (ONNX Runtime over an ONNX folder or .onnx file; --quant-path does not apply)",
    };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(_threads);
        cmd.Options.Add(_quantPath);
        cmd.Options.Add(_runtime);
    }

    /// <summary>The runtime asked for; `ort` on a model that is no ONNX folder or file is a usage error, before anything is read.</summary>
    public RuntimeKind Runtime(ParseResult parse, string path)
    {
        var kind = parse.GetValue(_runtime) is { } name ? Runtimes.Parse(name) : RuntimeKind.Ours;
        if (kind == RuntimeKind.Ort && OnnxFolder.ModelFileOf(path) is null)
            throw new UsageException($"--runtime ort: {path} is not an ONNX model (a folder holding {OnnxFolder.ModelFileName}, or a .onnx file); convert it with --to onnx first");
        return kind;
    }

    /// <summary>The JSON and text spelling of the runtime asked for.</summary>
    public string RuntimeName(ParseResult parse, string path) => Runtimes.Name(Runtime(parse, path));

    /// <summary>The logit model of the asked runtime over <paramref name="ir"/>, read from <paramref name="path"/>.</summary>
    public ILogitModel Open(ParseResult parse, string path, ModelIr ir, int? maxContext = null) =>
        Runtimes.Open(path, ir, Runtime(parse, path), Options(parse, maxContext));

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
