using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert;

/// <summary>How <see cref="Models.Open"/> reads a model.</summary>
public sealed record OpenOptions
{
    /// <summary>The defaults: the family config.json declares, checksums verified.</summary>
    public static OpenOptions Default { get; } = new();

    /// <summary>Read a Hugging Face checkpoint with this family's rules (the CLI's `--family`); null = as config.json declares. Other formats refuse it.</summary>
    public ModelFamily? Family { get; init; }

    /// <summary>Check stored checksums (mobile files, bundle manifests) while reading.</summary>
    public bool VerifyChecksums { get; init; } = true;
}

/// <summary>How <see cref="Models.Write"/> writes a model. Defaults equal the CLI's.</summary>
public sealed record WriteOptions
{
    /// <summary>A registered writable format name (<see cref="ModelFormats.Writable"/>: "bundle", "mobile", "gguf"); null = the single-file format whose extension the output has (.gguf, .mlcm).</summary>
    public string? Format { get; init; }

    /// <summary>GGUF: float type of unquantized matrices (the CLI's `--dtype`, same default).</summary>
    public ElementType FloatType { get; init; } = Formats.Gguf.GgufWriteOptions.DefaultFloatType;

    /// <summary>ONNX: the graph profile, "genai" (default) or "standard"; an unknown name is a usage error.</summary>
    public string OnnxProfile { get; init; } = Formats.Onnx.OnnxFormat.DefaultProfile;

    /// <summary>Bundle: the model it holds, "mobile" (model.mlcm, the default) or "onnx" (an ONNX Runtime GenAI folder's files beside the manifest; <see cref="OnnxProfile"/> applies).</summary>
    public string BundleModel { get; init; } = Formats.Mobile.MobileFileFormat.FormatName;

    /// <summary>GGUF general.name; null = the source checkpoint's folder (a cache snapshot's repo name), else the architecture.</summary>
    public string? ModelName { get; init; }

    /// <summary>Bundle: SHA-256 of the source checkpoint recorded in the manifest (<see cref="Models.CheckpointSha256"/>).</summary>
    public string? SourceCheckpointSha256 { get; init; }

    /// <summary>Bundle: conversion options to record in the manifest (key -> value as on the command line).</summary>
    public IReadOnlyDictionary<string, string> RecordedOptions { get; init; } = new Dictionary<string, string>();

    /// <summary>Receives stage "write" after each tensor.</summary>
    public IProgress<ConversionProgress>? Progress { get; init; }

    /// <summary>An accuracy budget's record (<see cref="Budget.Quality"/>), written into the output's metadata; null = none.</summary>
    public QualityRecord? Quality { get; init; }
}

/// <summary>
/// Opening, detecting, describing and writing models of every registered format
/// (<see cref="ModelFormats.All"/>). The library's entry point; the `mlconvert` CLI is a layer over it.
/// </summary>
public static class Models
{
    /// <summary>
    /// Opens a Hugging Face checkpoint directory, a .gguf file, a mobile bundle directory or model
    /// file as an IR (format detected from content). The IR owns its mapped files: dispose it.
    /// Its tokenizer is usable whatever the format (<see cref="Tokenizers.For"/>).
    /// </summary>
    /// <exception cref="Core.Errors.ModelFormatException">The file is malformed (names file, field and value).</exception>
    /// <exception cref="Core.Errors.ModelUsageException">The path is no model, or an option does not apply to its format.</exception>
    public static ModelIr Open(string path, OpenOptions? options = null)
    {
        options ??= OpenOptions.Default;
        return Detect(path).Read(path, new ReadOptions { Family = options.Family, VerifyChecksums = options.VerifyChecksums });
    }

    /// <summary>The registered format of <paramref name="path"/> (content first, then extension); an unknown file is a usage error.</summary>
    public static IModelFormat Detect(string path) => ModelFormats.Detect(path);

    /// <summary>A short description of a model from its header where the format allows (format, version, tensor count, metadata).</summary>
    public static FormatDescription Describe(string path) => Detect(path).Describe(path);

    /// <summary>
    /// Writes <paramref name="ir"/> (usually <see cref="Conversion.Result"/>) to <paramref name="output"/>
    /// atomically: a failed write leaves nothing behind. Returns the path, bytes on disk and format.
    /// </summary>
    public static WriteResult Write(ModelIr ir, string output, WriteOptions? options = null)
    {
        options ??= new WriteOptions();
        var format = ModelFormats.GetWritable(options.Format ?? FormatOfOutput(output));
        return format.Write(ir, output, new FormatWriteOptions
        {
            FloatType = options.FloatType,
            ModelName = options.ModelName,
            SourceCheckpointSha256 = options.SourceCheckpointSha256,
            RecordedOptions = options.RecordedOptions,
            OnnxProfile = options.OnnxProfile,
            BundleModel = options.BundleModel,
            Progress = options.Progress,
            Quality = options.Quality,
        });
    }

    /// <summary>
    /// SHA-256 of the files a checkpoint IR was read from (what a bundle manifest records as the
    /// source), or null for an IR that did not come from files. Reports stage "hash".
    /// </summary>
    public static string? CheckpointSha256(ModelIr ir, IProgress<ConversionProgress>? progress = null) =>
        ir.SourcePath is { } dir && ir.SourceFiles.Count > 0 ? Formats.Mobile.CheckpointHash.Compute(dir, ir.SourceFiles, progress) : null;

    /// <summary>The writable single-file format that claims the output's extension (asked through the registry, no list of names here).</summary>
    private static string FormatOfOutput(string output)
    {
        var probe = new ModelProbe(output, IsDirectory: false, Head: []);
        return ModelFormats.Writable.FirstOrDefault(f => f.Detect(probe) != DetectMatch.No)?.Name
            ?? throw new Core.Errors.ModelUsageException($"{output}: cannot tell the format from the extension; set WriteOptions.Format to one of {ModelFormats.WritableNames}");
    }
}
