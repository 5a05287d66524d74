using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>ONNX model folders ONNX Runtime and ONNX Runtime GenAI run (formats/onnx.md), behind <see cref="IModelFormat"/>.</summary>
public sealed class OnnxFormat : IModelFormat
{
    /// <summary>The registered name (<see cref="IModelFormat.Name"/>).</summary>
    public const string FormatName = "onnx";

    /// <summary>The `--onnx-profile` used when none is given.</summary>
    public const string DefaultProfile = OnnxProfiles.Default;

    /// <inheritdoc />
    public string Name => FormatName;
    /// <inheritdoc />
    public string Summary => "a folder ONNX Runtime GenAI runs: model.onnx + model.onnx.data (each shared tensor stored once), genai_config.json, tokenizer files";
    /// <inheritdoc />
    public bool CanWrite => true;
    /// <inheritdoc />
    public bool UsesFloatType => false;
    /// <inheritdoc />
    public bool IsDirectory => true;
    /// <summary>int4 MatMulNBits, as GenAI's own exports default to.</summary>
    public string? DefaultQuant => "q4";

    /// <summary>The profile names `--onnx-profile` accepts, joined for help texts.</summary>
    public static string ProfileNames => OnnxProfiles.Names;

    /// <summary>A usage error when <paramref name="profile"/> is not a known profile name (checked before any work).</summary>
    public static void CheckProfile(string profile) => OnnxProfiles.Get(profile);

    /// <summary>Checked against the default profile; the writer checks each tensor against the chosen one before writing.</summary>
    public string? CannotStore(QuantPolicy policy)
    {
        var profile = OnnxProfiles.Get(DefaultProfile);
        var types = new List<ElementType>();
        if (policy.IsQuantized) types.Add(QuantPolicy.TypeOf(policy.Scheme, policy.GroupSize));
        types.AddRange(policy.Overrides.Select(o => o.Target.Resolve(policy.GroupSize)));
        return types.Select(t => profile.CannotStore(t)).FirstOrDefault(why => why is not null);
    }

    /// <inheritdoc />
    public DetectMatch Detect(ModelProbe probe)
    {
        if (probe.IsDirectory)
            return File.Exists(Path.Combine(probe.Path, OnnxWriter.ModelFile)) ? DetectMatch.Content : DetectMatch.No;
        return probe.HasExtension(".onnx") ? DetectMatch.Hint : DetectMatch.No;
    }

    /// <summary>
    /// A folder whose model.onnx passes the reader's container checks (<see cref="OnnxContainer"/>: size
    /// cap, recursion limit, confined external data), has our producer_name, and whose files are only those we write.
    /// </summary>
    public bool IsOwnOutput(string path)
    {
        try
        {
            if (!Directory.Exists(path)) return false;
            var known = new HashSet<string>([OnnxWriter.ModelFile, OnnxWriter.DataFile, OnnxWriter.GenAiConfigFile, OnnxWriter.TokenizerJsonFile,
                OnnxWriter.TokenizerConfigFile, OnnxWriter.SentencePieceFile], StringComparer.Ordinal);
            if (!Directory.EnumerateFileSystemEntries(path).All(e => known.Contains(Path.GetFileName(e)) && File.Exists(e))) return false;
            using var bag = new ResourceBag();
            return OnnxContainer.Open(path, bag).Model.ProducerName == OnnxWriter.Producer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Core.Errors.ModelFormatException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public ModelIr Read(string path, ReadOptions options) => OnnxReader.Read(path, options);

    /// <inheritdoc />
    public WriteResult Write(ModelIr ir, string output, FormatWriteOptions options)
    {
        var profile = OnnxProfiles.Get(options.OnnxProfile);
        long bytes = OnnxWriter.Write(ir, output, profile, options.Progress);
        return new WriteResult(output, bytes, Name);
    }

    /// <summary>
    /// model.onnx's header fields and metadata_props, read through the reader's container layer
    /// (<see cref="OnnxContainer"/>): a malformed or hostile file is one <see cref="OnnxException"/>. External
    /// data is mapped and its layout checked, but no tensor is decoded.
    /// </summary>
    public FormatDescription Describe(string path)
    {
        using var bag = new ResourceBag();
        var model = OnnxContainer.Open(path, bag).Model;
        var metadata = new List<KeyValuePair<string, string>>
        {
            new("producer_name", model.ProducerName),
            new("ir_version", model.IrVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        metadata.AddRange(model.OpsetImport.Select(o => new KeyValuePair<string, string>("opset." + (o.Domain.Length == 0 ? "ai.onnx" : o.Domain),
            o.Version.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        metadata.AddRange(model.MetadataProps.Select(p => new KeyValuePair<string, string>(p.Key, p.Value)));
        return new FormatDescription(Name, model.IrVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), model.Graph.Initializer.Count, metadata);
    }
}
