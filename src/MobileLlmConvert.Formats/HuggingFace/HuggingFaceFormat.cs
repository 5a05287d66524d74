using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// A Hugging Face checkpoint directory (config.json + safetensors or torch weights + tokenizer),
/// plain or a cache snapshot. Read only: checkpoints are what we convert from.
/// </summary>
public sealed class HuggingFaceFormat : IModelFormat
{
    /// <summary>The registered name (<see cref="IModelFormat.Name"/>).</summary>
    public const string FormatName = "huggingface";

    /// <inheritdoc />
    public string Name => FormatName;
    /// <inheritdoc />
    public string Summary => "a Hugging Face checkpoint directory (config.json, safetensors or pytorch_model.bin, tokenizer)";
    /// <inheritdoc />
    public bool CanWrite => false;
    /// <inheritdoc />
    public bool UsesFloatType => false;
    /// <inheritdoc />
    public string? CannotStore(QuantPolicy policy) => "this format is read only";
    /// <inheritdoc />
    public bool IsDirectory => true;
    /// <inheritdoc />
    public string? DefaultQuant => null;

    /// <summary>Any directory that is not something more specific: the importer names what is missing (config.json first).</summary>
    public DetectMatch Detect(ModelProbe probe) => probe.IsDirectory ? DetectMatch.Hint : DetectMatch.No;

    /// <summary>Never: we do not write checkpoints through this format.</summary>
    public bool IsOwnOutput(string path) => false;

    /// <inheritdoc />
    public ModelIr Read(string path, ReadOptions options) =>
        HfImporter.Import(path, options: options.Family is { } family ? new HfImportOptions { Family = family } : HfImportOptions.Default);

    /// <inheritdoc />
    public WriteResult Write(ModelIr ir, string output, FormatWriteOptions options) =>
        throw new ModelUsageException($"{Name}: this format is read only; write one of {ModelFormats.WritableNames}");

    /// <inheritdoc />
    public FormatDescription Describe(string path)
    {
        using var ir = Read(path, ReadOptions.Default);
        return FormatDescriptions.FromIr(Name, null, ir, ir.ImportNotes.Select((n, i) => new KeyValuePair<string, string>($"import_note.{i}", n)));
    }
}
