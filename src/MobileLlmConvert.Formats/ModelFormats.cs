using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats;

/// <summary>
/// The one registry of model formats. Adding a format is a folder with its reader/writer and one
/// line in <see cref="All"/>; detection, `convert --to`, help texts and the library follow from it.
/// </summary>
public static class ModelFormats
{
    /// <summary>Every format, in the order detection breaks ties (a directory with a manifest is a bundle before it is a checkpoint).</summary>
    public static IReadOnlyList<IModelFormat> All { get; } =
    [
        new Mobile.MobileBundleFormat(),
        new Mobile.MobileFileFormat(),
        new Gguf.GgufFormat(),
        new Onnx.OnnxFormat(),
        new HuggingFace.HuggingFaceFormat(),
    ];

    /// <summary>The formats that can be written, in registration order.</summary>
    public static IReadOnlyList<IModelFormat> Writable { get; } = All.Where(f => f.CanWrite).ToList();

    /// <summary>The writable names joined for a help text or an error: "bundle, mobile, gguf".</summary>
    public static string WritableNames => string.Join(", ", Writable.Select(f => f.Name));

    /// <summary>The format called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static IModelFormat? Find(string name) =>
        All.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The format called <paramref name="name"/>; an unknown name is a usage error listing the known ones.</summary>
    public static IModelFormat Get(string name) =>
        Find(name) ?? throw new ModelUsageException($"unknown model format '{name}': expected one of {string.Join(", ", All.Select(f => f.Name))}");

    /// <summary>The writable format called <paramref name="name"/>; a name that cannot be written is a usage error naming those that can.</summary>
    public static IModelFormat GetWritable(string name)
    {
        var format = Get(name);
        if (!format.CanWrite) throw new ModelUsageException($"{format.Name} models cannot be written: expected one of {WritableNames}");
        return format;
    }

    /// <summary>
    /// Which format <paramref name="path"/> holds, from what is on disk rather than a file extension
    /// alone: content (magic, manifest) wins over a hint (extension, "a directory"). A known
    /// extension with the wrong magic still goes to that format, whose reader then says exactly
    /// what is wrong with the header.
    /// </summary>
    public static IModelFormat Detect(string path)
    {
        var probe = Probe(path);
        IModelFormat? hinted = null;
        foreach (var format in All)
        {
            var match = format.Detect(probe);
            if (match == DetectMatch.Content) return format;
            if (match == DetectMatch.Hint) hinted ??= format;
        }
        return hinted ?? throw new ModelUsageException(
            $"{path}: not a {string.Join(" or ", All.Where(f => !f.IsDirectory).Select(f => f.Name))} model file (unknown magic); for a Hugging Face checkpoint pass its directory");
    }

    /// <summary>Detects the format and reads the model (the IR owns its mapped files: dispose it).</summary>
    public static ModelIr Read(string path, ReadOptions? options = null) => Detect(path).Read(path, options ?? ReadOptions.Default);

    /// <summary>Refuses <see cref="ReadOptions.Family"/> for formats that store a resolved family.</summary>
    internal static void RefuseFamily(IModelFormat format, string path, ReadOptions options)
    {
        if (options.Family is not null)
            throw new ModelUsageException($"--family: {path} is a {format.Name} model, not a Hugging Face checkpoint; its family is stored in it");
    }

    private static ModelProbe Probe(string path)
    {
        if (Directory.Exists(path)) return new ModelProbe(path, true, []);
        if (!File.Exists(path)) throw new ModelUsageException($"{path}: no such file or directory");
        var head = new byte[ModelProbe.HeadBytes];
        int n;
        using (var s = InputFile.OpenRead(path)) n = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return new ModelProbe(path, false, head[..n]);
    }
}
