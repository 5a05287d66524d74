using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.OnnxRuntime;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert;

/// <summary>Which runtime computes a model's logits (the CLI's `--runtime`).</summary>
public enum RuntimeKind
{
    /// <summary>Our reference executor (<see cref="Transformer"/>) over the IR, whatever format it was read from.</summary>
    Ours,
    /// <summary>Microsoft.ML.OnnxRuntime over the model.onnx of an ONNX folder (the IR read first, so the folder is checked).</summary>
    Ort,
}

/// <summary>
/// Opens a runtime over a model as an <see cref="ILogitModel"/>: the evaluation engine, the generator
/// and the benchmark run either through the same code, so ONNX Runtime and our executor can be
/// compared on one folder or each against the Hugging Face source.
/// </summary>
public static class Runtimes
{
    /// <summary>The spellings of <see cref="RuntimeKind"/> on the command line and in JSON, in enum order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["ours", "ort"];

    /// <summary>The command-line and JSON spelling of <paramref name="kind"/>.</summary>
    public static string Name(RuntimeKind kind) => Names[(int)kind];

    /// <summary>The kind spelled <paramref name="name"/> (case-insensitive); anything else is a usage error naming the choices.</summary>
    public static RuntimeKind Parse(string name)
    {
        for (int i = 0; i < Names.Count; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.OrdinalIgnoreCase)) return (RuntimeKind)i;
        }
        throw new ModelUsageException($"--runtime: '{name}' is not one of {string.Join(", ", Names)}");
    }

    /// <summary>
    /// A runtime of <paramref name="kind"/> over the model at <paramref name="path"/>, which the caller has
    /// opened as <paramref name="ir"/> (and keeps alive while the runtime runs). <see cref="RuntimeKind.Ort"/>
    /// needs an ONNX model (a folder holding model.onnx, or the .onnx file); its session uses
    /// <see cref="ExecutorOptions.Threads"/> and <see cref="ExecutorOptions.MaxContext"/>, the quantized path is ORT's own.
    /// </summary>
    /// <exception cref="ModelUsageException"><see cref="RuntimeKind.Ort"/> on a model that is not an ONNX folder or file.</exception>
    public static ILogitModel Open(string path, ModelIr ir, RuntimeKind kind, ExecutorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(ir);
        options ??= new ExecutorOptions();
        if (kind == RuntimeKind.Ours) return new Transformer(ir, options);
        string model = OnnxFolder.ModelFileOf(path)
            ?? throw new ModelUsageException($"--runtime ort: {path} is not an ONNX model (a folder holding {OnnxFolder.ModelFileName}, or a .onnx file); convert it with --to onnx first");
        int context = options.MaxContext ?? Math.Min(ir.Config.ContextLength > 0 ? ir.Config.ContextLength : ExecutorOptions.DefaultContextCap, ExecutorOptions.DefaultContextCap);
        return new OrtModel(model, new OrtModelOptions { Threads = options.Threads, MaxContext = context });
    }
}
