using System.Globalization;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>GGUF files of llama.cpp's llama architecture (formats/gguf.md), behind <see cref="IModelFormat"/>.</summary>
public sealed class GgufFormat : IModelFormat
{
    /// <summary>The registered name (<see cref="IModelFormat.Name"/>).</summary>
    public const string FormatName = "gguf";

    /// <inheritdoc />
    public string Name => FormatName;
    /// <inheritdoc />
    public string Summary => "one .gguf file llama.cpp runs (shared tensors written once per executed step)";
    /// <inheritdoc />
    public bool CanWrite => true;
    /// <inheritdoc />
    public bool UsesFloatType => true;
    /// <inheritdoc />
    public string? CannotStore(QuantPolicy policy) =>
        policy is { IsQuantized: true } && GgufConstants.FromIrType(QuantPolicy.TypeOf(policy.Scheme, policy.GroupSize)) is null
            ? $"GGUF has only ggml's block types ({GgufConstants.SupportedTypeNames.ToLowerInvariant()}); the quantization asks for {QuantPolicy.TypeOf(policy.Scheme, policy.GroupSize).Info().Name}"
            : null;
    /// <inheritdoc />
    public bool IsDirectory => false;
    /// <summary>Floats unless asked: llama.cpp users pick a quant type themselves.</summary>
    public string? DefaultQuant => null;

    /// <inheritdoc />
    public DetectMatch Detect(ModelProbe probe)
    {
        if (probe.IsDirectory) return DetectMatch.No;
        if (probe.StartsWith("GGUF"u8)) return DetectMatch.Content;
        return probe.HasExtension(".gguf") ? DetectMatch.Hint : DetectMatch.No;
    }

    /// <summary>A GGUF carrying our mobilellmconvert.* keys (a llama.cpp GGUF is the user's).</summary>
    public bool IsOwnOutput(string path)
    {
        try
        {
            return File.Exists(path) && GgufFile.ReadMetadata(path).KeyValues.Any(kv => kv.Key.StartsWith(GgufKeys.OurPrefix, StringComparison.Ordinal));
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
        return GgufFile.Read(path, new ResourceBag());
    }

    /// <inheritdoc />
    public WriteResult Write(ModelIr ir, string output, FormatWriteOptions options)
    {
        GgufWriter.Write(ir, output, new GgufWriteOptions
        {
            FloatType = options.FloatType,
            ModelName = options.ModelName,
            Progress = options.Progress,
            Quality = options.Quality,
        });
        return new WriteResult(output, new FileInfo(output).Length, Name);
    }

    /// <summary>The header alone: no tensor data is mapped.</summary>
    public FormatDescription Describe(string path)
    {
        var m = GgufFile.ReadMetadata(path);
        return new FormatDescription(Name, m.Version.ToString(CultureInfo.InvariantCulture), m.Tensors.Count,
            m.KeyValues.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value.ToString())).ToList());
    }
}
