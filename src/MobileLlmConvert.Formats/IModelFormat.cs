using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Formats;

/// <summary>How sure a format is that a path is one of its models (<see cref="IModelFormat.Detect"/>).</summary>
public enum DetectMatch
{
    /// <summary>Not this format.</summary>
    No,
    /// <summary>Only a hint: a file extension, or "any directory" for a checkpoint folder. Loses to <see cref="Content"/>.</summary>
    Hint,
    /// <summary>The bytes or the layout say so: a magic number, a manifest file.</summary>
    Content,
}

/// <summary>What detection looks at, gathered once per path: whether it is a directory, and a file's first bytes.</summary>
public sealed record ModelProbe(string Path, bool IsDirectory, byte[] Head)
{
    /// <summary>Bytes read from the start of a file: enough for every registered magic number.</summary>
    public const int HeadBytes = 16;

    /// <summary>True when the file starts with <paramref name="magic"/> (false for a directory or a shorter file).</summary>
    public bool StartsWith(ReadOnlySpan<byte> magic) => Head.AsSpan().StartsWith(magic);

    /// <summary>True when the path is a file whose name ends with <paramref name="extension"/> (case-insensitive).</summary>
    public bool HasExtension(string extension) => !IsDirectory && Path.EndsWith(extension, StringComparison.OrdinalIgnoreCase);
}

/// <summary>Options every reader understands.</summary>
public sealed record ReadOptions
{
    /// <summary>The defaults: the family config.json declares, checksums verified.</summary>
    public static ReadOptions Default { get; } = new();

    /// <summary>
    /// Read a Hugging Face checkpoint with this family's rules whatever config.json declares (the CLI's
    /// `--family`). Other formats store a resolved family and refuse the option.
    /// </summary>
    public ModelFamily? Family { get; init; }

    /// <summary>Check stored checksums (mobile files) while reading.</summary>
    public bool VerifyChecksums { get; init; } = true;
}

/// <summary>Options every writer understands; a writer ignores what does not apply to it.</summary>
public sealed record FormatWriteOptions
{
    /// <summary>The defaults: the CLI's `--dtype` default float type, no recorded options, no progress.</summary>
    public static FormatWriteOptions Default { get; } = new();

    /// <summary>GGUF: type of unquantized matrices (F32 or F16); norms stay F32. The CLI's `--dtype` default is this one.</summary>
    public ElementType FloatType { get; init; } = Gguf.GgufWriteOptions.DefaultFloatType;

    /// <summary>GGUF general.name; null = the writer's default.</summary>
    public string? ModelName { get; init; }

    /// <summary>Bundle: <see cref="Mobile.CheckpointHash.Compute"/> of the source checkpoint, recorded in the manifest.</summary>
    public string? SourceCheckpointSha256 { get; init; }

    /// <summary>Bundle: the conversion options as the CLI spells them, recorded in the manifest.</summary>
    public IReadOnlyDictionary<string, string> RecordedOptions { get; init; } = new Dictionary<string, string>();

    /// <summary>ONNX: the graph profile, "genai" (ONNX Runtime contrib ops, the default) or "standard" (ai.onnx ops only); an unknown name is a usage error.</summary>
    public string OnnxProfile { get; init; } = Onnx.OnnxFormat.DefaultProfile;

    /// <summary>Bundle: the model it holds, "mobile" (model.mlcm, the default) or "onnx" (an ONNX folder's files; <see cref="OnnxProfile"/> applies).</summary>
    public string BundleModel { get; init; } = Mobile.MobileFileFormat.FormatName;

    /// <summary>Reports stage "write" after each tensor.</summary>
    public IProgress<ConversionProgress>? Progress { get; init; }

    /// <summary>An accuracy budget's result: each writer records it in its own metadata (bundle manifest "quality", GGUF mobilellmconvert.quality.*); null = none.</summary>
    public QualityRecord? Quality { get; init; }
}

/// <summary>What a writer produced: the path, the bytes on disk (all files of a directory layout) and the format's name.</summary>
/// <param name="Output">The path written (a file, or a directory for directory layouts).</param>
/// <param name="Bytes">Bytes on disk: the file, or every file the directory layout lists.</param>
/// <param name="Format">The registered name of the format written.</param>
/// <param name="Manifest">The manifest a bundle was written with; null for single-file formats.</param>
public sealed record WriteResult(string Output, long Bytes, string Format, Mobile.BundleManifest? Manifest = null);

/// <summary>A model file described from its header alone where the format allows (for `inspect`).</summary>
/// <param name="Format">The registered name of the format.</param>
/// <param name="Version">The format's own version number, or null when the format has none.</param>
/// <param name="Tensors">Number of stored tensors.</param>
/// <param name="Metadata">Key/value pairs as the format stores them (values rendered as text, long arrays summarised).</param>
public sealed record FormatDescription(string Format, string? Version, int Tensors, IReadOnlyList<KeyValuePair<string, string>> Metadata);

/// <summary>
/// One model format: detection, reading into the IR, writing from it, a cheap description. Formats
/// are registered once in <see cref="ModelFormats.All"/>; nothing outside a format's folder switches
/// on its name. Every IR a reader returns has a usable tokenizer (a sentencepiece vocabulary comes
/// with its ModelProto) and owns its mapped files (dispose it).
/// </summary>
public interface IModelFormat
{
    /// <summary>Lower-case name used on the command line (`convert --to NAME`) and in JSON (`format.input`).</summary>
    string Name { get; }

    /// <summary>One line for help texts.</summary>
    string Summary { get; }

    /// <summary>True when the format has a writer (<see cref="Write"/>); false: <see cref="Write"/> throws a usage error.</summary>
    bool CanWrite { get; }

    /// <summary>True when a model of this format is a directory (a bundle, a checkpoint folder) rather than one file.</summary>
    bool IsDirectory { get; }

    /// <summary>
    /// The `--quant` scheme a conversion to this format uses when none is asked for; null keeps floats.
    /// One constant shared by the library's options and the CLI.
    /// </summary>
    string? DefaultQuant { get; }

    /// <summary>True when <see cref="FormatWriteOptions.FloatType"/> matters to <see cref="Write"/> (the CLI's `--dtype`).</summary>
    bool UsesFloatType { get; }

    /// <summary>Why this format cannot store the types <paramref name="policy"/> asks for, or null when it can (checked before any work).</summary>
    string? CannotStore(QuantPolicy policy);

    /// <summary>How sure this format is that the probed path is one of its models; the registry picks the strongest match.</summary>
    DetectMatch Detect(ModelProbe probe);

    /// <summary>
    /// True when <paramref name="path"/> is an earlier output of ours in this format, which a writing
    /// verb may replace without --force (docs/cli.md, "Where outputs go"). Never throws for a bad file.
    /// </summary>
    bool IsOwnOutput(string path);

    /// <summary>Reads the model at <paramref name="path"/> into an IR that owns its mapped files; bad input throws a <see cref="Core.Errors.ModelFormatException"/>.</summary>
    ModelIr Read(string path, ReadOptions options);

    /// <summary>Writes <paramref name="ir"/> to <paramref name="output"/> atomically (complete or not at all); a read-only format throws a usage error.</summary>
    WriteResult Write(ModelIr ir, string output, FormatWriteOptions options);

    /// <summary>Describes the model at <paramref name="path"/> from its header or manifest where the format allows, without reading tensors.</summary>
    FormatDescription Describe(string path);
}
