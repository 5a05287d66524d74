using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// The verbs' door to the library's <see cref="Models"/>: opening any model path through the format
/// registry, with `--family` as the verbs parse it. No format is named here but the one input kind
/// some verbs require (a Hugging Face checkpoint: hf2mobile's source, verify's reference).
/// </summary>
internal static class ModelOpener
{
    public static IModelFormat Detect(string path) => Models.Detect(path);

    /// <summary>True when <paramref name="path"/> is a Hugging Face checkpoint directory.</summary>
    public static bool IsCheckpoint(string path) => Detect(path) is HuggingFaceFormat;

    /// <summary>Opens the model; the IR owns the mapped files (dispose it). `--family` applies to checkpoints only.</summary>
    public static ModelIr Open(string path, HfImportOptions? hf = null) => Models.Open(path, new OpenOptions { Family = hf?.Family });
}
