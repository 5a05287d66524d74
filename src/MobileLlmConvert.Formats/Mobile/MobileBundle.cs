using System.Reflection;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Mobile;

public sealed record BundleOptions
{
    /// <summary><see cref="CheckpointHash.Compute"/> of the source checkpoint, or null when the IR did not come from one.</summary>
    public string? SourceCheckpointSha256 { get; init; }
    /// <summary>The conversion options as the CLI spells them (quant, group size, dedup/tie flags...): recorded, sorted by key.</summary>
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();
    public string ToolVersion { get; init; } = MobileBundle.DefaultToolVersion;
    public IProgress<ConversionProgress>? Progress { get; init; }
    public MobileCompressionMode Compression { get; init; } = MobileCompressionMode.Auto;
}

/// <summary>
/// A device bundle: a directory holding <see cref="ModelFileName"/> and <see cref="ManifestFileName"/>
/// (formats/mobile/SPEC.md, "Bundle"). It appears complete or not at all: built in a hidden sibling
/// directory and moved into place (<see cref="AtomicFile.WriteDirectory"/>).
/// </summary>
public static class MobileBundle
{
    public const string ModelFileName = "model" + MobileFormat.FileExtension;
    public const string ManifestFileName = "manifest.json";

    /// <summary>The assembly's version without source-control suffixes, so rebuilding from the same sources gives the same manifest.</summary>
    public static string DefaultToolVersion { get; } =
        (typeof(MobileBundle).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    public static BundleManifest Write(string bundleDir, ModelIr ir, BundleOptions options)
    {
        BundleManifest? manifest = null;
        AtomicFile.WriteDirectory(bundleDir, temp =>
        {
            string modelPath = Path.Combine(temp, ModelFileName);
            using (var stream = new FileStream(modelPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
            {
                MobileWriter.Write(ir, stream, new MobileWriteOptions
                {
                    Metadata = Provenance(options),
                    Progress = options.Progress,
                    Compression = options.Compression,
                });
                stream.Flush(flushToDisk: true);
            }
            var model = new BundleFile(ModelFileName, new FileInfo(modelPath).Length, CheckpointHash.FileSha256(modelPath));
            manifest = new BundleManifest(ir.Config.Family.ToString(), ir.Config.Architecture, options.SourceCheckpointSha256,
                options.ToolVersion, new SortedDictionary<string, string>(options.Options.ToDictionary(StringComparer.Ordinal), StringComparer.Ordinal),
                ir.StoredParameters, ir.ExecutedParameters, [model]);
            using var json = new FileStream(Path.Combine(temp, ManifestFileName), FileMode.CreateNew, FileAccess.Write, FileShare.None);
            json.Write(manifest.ToJson());
            json.Flush(flushToDisk: true);
        });
        return manifest!;
    }

    /// <summary>Reads a bundle's model: <paramref name="path"/> is the bundle directory or the model file itself.</summary>
    public static ModelIr Open(string path, ResourceBag resources, bool verifyChecksums = true) =>
        MobileFile.Read(ModelPath(path), resources, verifyChecksums);

    /// <summary>The model file of a bundle directory, or <paramref name="path"/> itself when it is a file.</summary>
    public static string ModelPath(string path)
    {
        if (!Directory.Exists(path)) return path;
        string model = Path.Combine(path, ModelFileName);
        if (!File.Exists(model))
            throw new BundleException(BundleError.MissingFile, path, ModelFileName, "(absent)", "a bundle directory holds the model file");
        return model;
    }

    /// <summary>
    /// Checks a bundle directory against its manifest: every listed file exists as a plain file of
    /// the listed size and SHA-256, and nothing else is in the directory. Returns the manifest.
    /// </summary>
    public static BundleManifest VerifyManifest(string bundleDir)
    {
        string manifestPath = Path.Combine(bundleDir, ManifestFileName);
        if (!File.Exists(manifestPath))
            throw new BundleException(BundleError.MissingManifest, bundleDir, ManifestFileName, "(absent)", "a bundle directory holds manifest.json");
        var length = new FileInfo(manifestPath).Length;
        if (length > BundleManifest.MaxManifestBytes)
            throw new BundleException(BundleError.OverCap, manifestPath, "manifest.json", $"{length} bytes", $"above the cap of {BundleManifest.MaxManifestBytes} bytes");
        var manifest = BundleManifest.Parse(File.ReadAllBytes(manifestPath), manifestPath);

        var listed = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < manifest.Files.Count; i++)
        {
            var f = manifest.Files[i];
            string field = $"files[{i}].path";
            if (!IsPlainName(f.Path))
                throw new BundleException(BundleError.BadPath, manifestPath, field, f.Path, "must be a plain file name inside the bundle (no separators, no \"..\")");
            if (!listed.Add(f.Path))
                throw new BundleException(BundleError.DuplicatePath, manifestPath, field, f.Path, "listed twice");
            var info = new FileInfo(Path.Combine(bundleDir, f.Path));
            if (!info.Exists)
                throw new BundleException(BundleError.MissingFile, manifestPath, field, f.Path, "listed but not in the bundle");
            if (info.LinkTarget is not null)
                throw new BundleException(BundleError.BadPath, manifestPath, field, f.Path, "a bundle file must not be a link");
            if (info.Length != f.Bytes)
                throw new BundleException(BundleError.SizeMismatch, manifestPath, $"files[{i}].bytes", f.Bytes.ToString(), $"{f.Path} has {info.Length} bytes");
            string sha = CheckpointHash.FileSha256(info.FullName);
            if (!string.Equals(sha, f.Sha256, StringComparison.Ordinal))
                throw new BundleException(BundleError.HashMismatch, manifestPath, $"files[{i}].sha256", f.Sha256, $"{f.Path} hashes to {sha}");
        }
        if (!listed.Contains(ModelFileName))
            throw new BundleException(BundleError.MissingFile, manifestPath, "files", ModelFileName, "the model file must be listed");
        foreach (var entry in Directory.EnumerateFileSystemEntries(bundleDir).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(entry);
            if (name != ManifestFileName && !listed.Contains(name))
                throw new BundleException(BundleError.UnlistedFile, manifestPath, "files", name, "in the bundle directory but not listed in the manifest");
        }
        return manifest;
    }

    private static bool IsPlainName(string path) =>
        path.Length is > 0 and <= 255 && path != "." && path != ".." && path != ManifestFileName &&
        path.IndexOfAny(['/', '\\', ':', '\0']) < 0 && !Path.IsPathRooted(path);

    /// <summary>Provenance stored inside the model file too, so a model copied out of its bundle still says where it came from.</summary>
    private static Dictionary<string, string> Provenance(BundleOptions options)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["mlconvert.tool_version"] = options.ToolVersion };
        if (options.SourceCheckpointSha256 is { } sha) metadata["mlconvert.source_checkpoint_sha256"] = sha;
        foreach (var (k, v) in options.Options) metadata["mlconvert.option." + k] = v;
        return metadata;
    }
}
