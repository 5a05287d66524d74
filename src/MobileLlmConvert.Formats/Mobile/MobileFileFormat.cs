using System.Globalization;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>
/// The mobile model file (formats/mobile/SPEC.md) on its own. With <see cref="MobileBundleFormat"/>
/// it is one format with two layouts: a loose <c>.mlcm</c> file ("mobile") or a bundle directory
/// holding that file and manifest.json ("bundle"). Both read through <see cref="MobileBundle.Open"/>,
/// so a model file inside a bundle is checked against the manifest beside it.
/// </summary>
public sealed class MobileFileFormat : IModelFormat
{
    /// <summary>The `--quant` default of both mobile layouts: int4 group 32 (8-bit embedding and head by policy).</summary>
    public const string DefaultScheme = "q4";

    /// <summary>The registered name (<see cref="IModelFormat.Name"/>).</summary>
    public const string FormatName = "mobile";

    /// <inheritdoc />
    public string Name => FormatName;
    /// <inheritdoc />
    public string Summary => "one mobile model file (.mlcm) our executor runs, shared tensors stored once";
    /// <inheritdoc />
    public bool CanWrite => true;
    /// <inheritdoc />
    public bool UsesFloatType => false;
    /// <summary>Every element type of the table has a mobile type code (formats/mobile/SPEC.md).</summary>
    public string? CannotStore(QuantPolicy policy) => null;
    /// <inheritdoc />
    public bool IsDirectory => false;
    /// <inheritdoc />
    public string? DefaultQuant => DefaultScheme;

    /// <inheritdoc />
    public DetectMatch Detect(ModelProbe probe)
    {
        if (probe.IsDirectory) return DetectMatch.No;
        if (probe.StartsWith(MobileFormat.Magic)) return DetectMatch.Content;
        return probe.HasExtension(MobileFormat.FileExtension) ? DetectMatch.Hint : DetectMatch.No;
    }

    /// <summary>A file starting with the mobile magic.</summary>
    public bool IsOwnOutput(string path)
    {
        try
        {
            return File.Exists(path) && MobileFile.HasMagic(path);
        }
        catch (Exception e) when (e is Core.Errors.ModelFormatException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public ModelIr Read(string path, ReadOptions options)
    {
        ModelFormats.RefuseFamily(this, path, options);
        return MobileBundle.Open(path, new ResourceBag(), options.VerifyChecksums);
    }

    /// <inheritdoc />
    public WriteResult Write(ModelIr ir, string output, FormatWriteOptions options)
    {
        AtomicFile.Write(output, stream => MobileWriter.Write(ir, stream, new MobileWriteOptions { Progress = options.Progress }));
        return new WriteResult(output, new FileInfo(output).Length, Name);
    }

    /// <inheritdoc />
    public FormatDescription Describe(string path)
    {
        using var bag = new ResourceBag();
        var model = MobileFile.Load(MobileBundle.ModelPath(path), bag);
        var metadata = model.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Append(new("sections", model.Sections.Count.ToString(CultureInfo.InvariantCulture)));
        return FormatDescriptions.FromIr(Name, MobileFormat.Version.ToString(CultureInfo.InvariantCulture), model.Ir, metadata);
    }
}

/// <summary>
/// A device bundle: a directory with the mobile model file and manifest.json (formats/mobile/SPEC.md,
/// "Bundle"), written atomically and verified against its manifest on every read.
/// </summary>
public sealed class MobileBundleFormat : IModelFormat
{
    /// <summary>The registered name (<see cref="IModelFormat.Name"/>).</summary>
    public const string FormatName = "bundle";

    /// <inheritdoc />
    public string Name => FormatName;
    /// <inheritdoc />
    public string Summary => "a directory with the mobile model file (or an ONNX folder's files) and manifest.json (sizes, SHA-256, options, source hash)";
    /// <inheritdoc />
    public bool CanWrite => true;
    /// <inheritdoc />
    public bool UsesFloatType => false;
    /// <summary>Every element type of the table has a mobile type code (formats/mobile/SPEC.md).</summary>
    public string? CannotStore(QuantPolicy policy) => null;
    /// <inheritdoc />
    public bool IsDirectory => true;
    /// <inheritdoc />
    public string? DefaultQuant => MobileFileFormat.DefaultScheme;

    /// <inheritdoc />
    public DetectMatch Detect(ModelProbe probe) =>
        probe.IsDirectory && (File.Exists(Path.Combine(probe.Path, MobileBundle.ManifestFileName)) || File.Exists(Path.Combine(probe.Path, MobileBundle.ModelFileName)))
            ? DetectMatch.Content : DetectMatch.No;

    /// <summary>A directory with our manifest and nothing but the files it lists (<see cref="MobileBundle.LooksLikeBundle"/>).</summary>
    public bool IsOwnOutput(string path) => Directory.Exists(path) && MobileBundle.LooksLikeBundle(path);

    /// <inheritdoc />
    public ModelIr Read(string path, ReadOptions options)
    {
        ModelFormats.RefuseFamily(this, path, options);
        return MobileBundle.Open(path, new ResourceBag(), options.VerifyChecksums);
    }

    /// <inheritdoc />
    public WriteResult Write(ModelIr ir, string output, FormatWriteOptions options)
    {
        var manifest = MobileBundle.Write(output, ir, new BundleOptions
        {
            SourceCheckpointSha256 = options.SourceCheckpointSha256,
            Options = options.RecordedOptions,
            Progress = options.Progress,
            Quality = options.Quality,
            ModelFormat = options.BundleModel,
            OnnxProfile = options.OnnxProfile,
        });
        return new WriteResult(output, manifest.Files.Sum(f => f.Bytes), Name, manifest);
    }

    /// <summary>The manifest (checked against the files) and the model it lists (an ONNX bundle's as <see cref="Onnx.OnnxFormat.Describe"/> describes it).</summary>
    public FormatDescription Describe(string path)
    {
        var manifest = MobileBundle.VerifyManifest(path);
        var metadata = new List<KeyValuePair<string, string>>
        {
            new("manifest.model", manifest.Model),
            new("manifest.tool_version", manifest.ToolVersion),
            new("manifest.source_checkpoint_sha256", manifest.SourceCheckpointSha256 ?? "(none)"),
        };
        metadata.AddRange(manifest.Options.Select(kv => new KeyValuePair<string, string>("manifest.option." + kv.Key, kv.Value)));
        metadata.AddRange(manifest.Files.Select(f => new KeyValuePair<string, string>("manifest.file." + f.Path, $"{f.Bytes} bytes, sha256 {f.Sha256}")));
        if (manifest.Model == MobileBundle.OnnxModelFileName)
        {
            var onnx = new Onnx.OnnxFormat().Describe(path);
            return onnx with { Format = Name, Metadata = [.. metadata, .. onnx.Metadata] };
        }
        using var bag = new ResourceBag();
        var model = MobileFile.Load(MobileBundle.ModelPath(path), bag);
        return FormatDescriptions.FromIr(Name, MobileFormat.Version.ToString(CultureInfo.InvariantCulture), model.Ir, metadata);
    }
}
