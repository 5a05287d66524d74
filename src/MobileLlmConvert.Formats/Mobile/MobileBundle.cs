using System.Reflection;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>How <see cref="MobileBundle.Write"/> writes a bundle.</summary>
public sealed record BundleOptions
{
    /// <summary><see cref="CheckpointHash.Compute"/> of the source checkpoint, or null when the IR did not come from one.</summary>
    public string? SourceCheckpointSha256 { get; init; }
    /// <summary>The conversion options as the CLI spells them (quant, group size, dedup/tie flags...): recorded, sorted by key.</summary>
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();
    /// <summary>The tool version recorded in the manifest.</summary>
    public string ToolVersion { get; init; } = MobileBundle.DefaultToolVersion;
    /// <summary>Receives write progress, or null.</summary>
    public IProgress<ConversionProgress>? Progress { get; init; }
    /// <summary>Whether sections are LZ4-compressed.</summary>
    public MobileCompressionMode Compression { get; init; } = MobileCompressionMode.Auto;
    /// <summary>An accuracy budget's result, recorded in the manifest ("quality") and the model file's metadata; null = none.</summary>
    public QualityRecord? Quality { get; init; }
    /// <summary>
    /// The model the bundle holds, by format name: <see cref="MobileFileFormat.FormatName"/> (model.mlcm, the
    /// default) or <see cref="Onnx.OnnxFormat.FormatName"/> (the files of an ONNX Runtime GenAI folder,
    /// formats/onnx.md); anything else is a usage error.
    /// </summary>
    public string ModelFormat { get; init; } = MobileFileFormat.FormatName;
    /// <summary>ONNX bundles: the graph profile (<see cref="Onnx.OnnxFormat.ProfileNames"/>).</summary>
    public string OnnxProfile { get; init; } = Onnx.OnnxFormat.DefaultProfile;
}

/// <summary>
/// A device bundle: a directory holding <see cref="ManifestFileName"/> and the model it names, either
/// <see cref="ModelFileName"/> or an ONNX folder's files with <see cref="OnnxModelFileName"/>
/// (formats/mobile/SPEC.md, "Bundle"). It appears complete or not at all: built in a hidden sibling
/// directory and moved into place (<see cref="AtomicFile.WriteDirectory"/>).
/// </summary>
public static class MobileBundle
{
    /// <summary>The model file's name inside a bundle.</summary>
    public const string ModelFileName = "model" + MobileFormat.FileExtension;
    /// <summary>The model file of an ONNX bundle: the graph file of the ONNX folder whose files the bundle holds.</summary>
    public const string OnnxModelFileName = Onnx.OnnxFolder.ModelFileName;
    /// <summary>The manifest's name inside a bundle.</summary>
    public const string ManifestFileName = "manifest.json";
    /// <summary>The model file names a manifest's "model" may give, one per <see cref="BundleOptions.ModelFormat"/>.</summary>
    public static IReadOnlyList<string> ModelFileNames { get; } = [ModelFileName, OnnxModelFileName];
    /// <summary>The format names <see cref="BundleOptions.ModelFormat"/> accepts, joined for messages.</summary>
    public static string ModelFormatNames => MobileFileFormat.FormatName + ", " + Onnx.OnnxFormat.FormatName;

    /// <summary>True for an ONNX bundle, false for a mobile one; any other name is a usage error (checked before any work).</summary>
    public static bool IsOnnx(string modelFormat)
    {
        if (string.Equals(modelFormat, Onnx.OnnxFormat.FormatName, StringComparison.OrdinalIgnoreCase)) return true;
        if (string.Equals(modelFormat, MobileFileFormat.FormatName, StringComparison.OrdinalIgnoreCase)) return false;
        throw new Core.Errors.ModelUsageException($"--format: a bundle holds a {ModelFormatNames} model, not '{modelFormat}'");
    }

    /// <summary>The assembly's version without source-control suffixes, so rebuilding from the same sources gives the same manifest.</summary>
    public static string DefaultToolVersion { get; } =
        (typeof(MobileBundle).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    /// <summary>Writes <paramref name="ir"/> as a bundle at <paramref name="bundleDir"/>, complete or not at all, and returns its manifest.</summary>
    public static BundleManifest Write(string bundleDir, ModelIr ir, BundleOptions options)
    {
        bool onnx = IsOnnx(options.ModelFormat);
        var profile = onnx ? Onnx.OnnxProfiles.Get(options.OnnxProfile) : null;
        BundleManifest? manifest = null;
        AtomicFile.WriteDirectory(bundleDir, temp =>
        {
            // An ONNX bundle is the ONNX folder's own files (formats/onnx.md) beside the manifest, so ONNX
            // Runtime GenAI loads the bundle directory as it is; its provenance lives in the manifest only.
            IReadOnlyList<string> names = profile is not null ? Onnx.OnnxWriter.WriteInto(ir, temp, profile, options.Progress) : [WriteMobileModel(temp, ir, options)];
            var files = names.Select(name =>
            {
                string path = Path.Combine(temp, name);
                return new BundleFile(name, new FileInfo(path).Length, CheckpointHash.FileSha256(path));
            }).ToList();
            manifest = new BundleManifest(ir.Config.Family.ToString(), ir.Config.Architecture, options.SourceCheckpointSha256,
                options.ToolVersion, new SortedDictionary<string, string>(options.Options.ToDictionary(StringComparer.Ordinal), StringComparer.Ordinal),
                ir.StoredParameters, ir.ExecutedParameters, files, options.Quality, onnx ? OnnxModelFileName : ModelFileName);
            using var json = new FileStream(Path.Combine(temp, ManifestFileName), FileMode.CreateNew, FileAccess.Write, FileShare.None);
            json.Write(manifest.ToJson());
            json.Flush(flushToDisk: true);
        });
        return manifest!;
    }

    private static string WriteMobileModel(string dir, ModelIr ir, BundleOptions options)
    {
        using var stream = new WriteBackFileStream(Path.Combine(dir, ModelFileName));
        MobileWriter.Write(ir, stream, new MobileWriteOptions
        {
            Metadata = Provenance(options),
            Progress = options.Progress,
            Compression = options.Compression,
        });
        stream.Flush(flushToDisk: true);
        return ModelFileName;
    }

    /// <summary>
    /// Reads a bundle's model: <paramref name="path"/> is the bundle directory or the model file
    /// itself. A bundle (a directory, or a model.mlcm with manifest.json beside it) is checked
    /// against its manifest first (<see cref="VerifyManifest"/>): a bundle that lies is never run.
    /// An ONNX bundle is then read by the ONNX reader (all its checks), and its IR owns its own
    /// mappings rather than <paramref name="resources"/>: dispose the IR.
    /// </summary>
    public static ModelIr Open(string path, ResourceBag resources, bool verifyChecksums = true)
    {
        if (BundleDirOf(path) is { } bundle && VerifyManifest(bundle).Model == OnnxModelFileName)
            return Onnx.OnnxReader.Read(bundle, ReadOptions.Default);
        return MobileFile.Read(ModelPath(path), resources, verifyChecksums);
    }

    /// <summary>The bundle directory <paramref name="path"/> names or lies in, or null for a loose model file.</summary>
    public static string? BundleDirOf(string path)
    {
        if (Directory.Exists(path)) return path;
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        return dir is not null && Path.GetFileName(path) == ModelFileName && PosixFile.Kind(Path.Combine(dir, ManifestFileName), followLinks: false) != FileKind.Missing
            ? dir : null;
    }

    /// <summary>The model file of a bundle directory, or <paramref name="path"/> itself when it is a file.</summary>
    public static string ModelPath(string path)
    {
        if (!Directory.Exists(path)) return path;
        string model = Path.Combine(path, ModelFileName);
        if (PosixFile.Kind(model, followLinks: false) == FileKind.Missing)
            throw new BundleException(BundleError.MissingFile, path, ModelFileName, "(absent)", "a bundle directory holds the model file");
        return model;
    }

    /// <summary>
    /// True when <paramref name="dir"/> looks like a previous output of ours: a manifest.json that
    /// names our bundle format, and nothing in the directory but it and the files it lists (so a
    /// user's file dropped into a bundle is not deleted by replacing the bundle without --force).
    /// Sizes and hashes are not checked: a damaged bundle of ours may be replaced.
    /// </summary>
    public static bool LooksLikeBundle(string dir)
    {
        if (TryReadManifest(dir) is not { } manifest) return false;
        try
        {
            var listed = manifest.Files.Select(f => f.Path).Append(ManifestFileName).ToHashSet(StringComparer.Ordinal);
            return Directory.EnumerateFileSystemEntries(dir).All(e => listed.Contains(Path.GetFileName(e)));
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// The manifest of <paramref name="dir"/> as written, without the file checks of
    /// <see cref="VerifyManifest"/>; null when manifest.json is absent, not a regular file, over
    /// <see cref="BundleManifest.MaxManifestBytes"/>, unreadable or malformed. Never throws for a bad file.
    /// </summary>
    public static BundleManifest? TryReadManifest(string dir)
    {
        string manifestPath = Path.Combine(dir, ManifestFileName);
        if (PosixFile.Kind(manifestPath, followLinks: false) != FileKind.Regular) return null;
        try
        {
            using var stream = InputFile.OpenRead(manifestPath);
            if (stream.Length > BundleManifest.MaxManifestBytes) return null;
            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            return BundleManifest.Parse(bytes, manifestPath);
        }
        catch (Exception e) when (e is Core.Errors.ModelFormatException or IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Checks a bundle directory against its manifest: every listed file is a plain name inside the
    /// bundle naming a regular file (not a link, FIFO or device: checked by type before anything is
    /// opened) of the listed size and SHA-256 (streamed through a fixed buffer, never more than the
    /// listed size), and nothing else is in the directory. Returns the manifest.
    /// </summary>
    public static BundleManifest VerifyManifest(string bundleDir)
    {
        string manifestPath = Path.Combine(bundleDir, ManifestFileName);
        var manifestKind = PosixFile.Kind(manifestPath, followLinks: false);
        if (manifestKind == FileKind.Missing)
            throw new BundleException(BundleError.MissingManifest, bundleDir, ManifestFileName, "(absent)", "a bundle directory holds manifest.json");
        if (manifestKind != FileKind.Regular)
            throw new BundleException(BundleError.BadPath, manifestPath, ManifestFileName, InputFile.Describe(manifestKind), "manifest.json must be a regular file, not a link");
        byte[] bytes;
        using (var stream = InputFile.OpenRead(manifestPath))
        {
            if (stream.Length > BundleManifest.MaxManifestBytes)
                throw new BundleException(BundleError.OverCap, manifestPath, "manifest.json", $"{stream.Length} bytes", $"above the cap of {BundleManifest.MaxManifestBytes} bytes");
            bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
        }
        var manifest = BundleManifest.Parse(bytes, manifestPath);

        var listed = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < manifest.Files.Count; i++)
        {
            var f = manifest.Files[i];
            string field = $"files[{i}].path";
            if (!IsPlainName(f.Path))
                throw new BundleException(BundleError.BadPath, manifestPath, field, f.Path, "must be a plain file name inside the bundle (no separators, no \"..\")");
            if (!listed.Add(f.Path))
                throw new BundleException(BundleError.DuplicatePath, manifestPath, field, f.Path, "listed twice");
            string filePath = Path.Combine(bundleDir, f.Path);
            var kind = PosixFile.Kind(filePath, followLinks: false);
            if (kind == FileKind.Missing)
                throw new BundleException(BundleError.MissingFile, manifestPath, field, f.Path, "listed but not in the bundle");
            if (kind == FileKind.Symlink)
                throw new BundleException(BundleError.BadPath, manifestPath, field, f.Path, "a bundle file must not be a link");
            if (kind != FileKind.Regular)
                throw new BundleException(BundleError.BadPath, manifestPath, field, f.Path, $"a bundle file must be a regular file, not a {InputFile.Describe(kind)}");
            long length = new FileInfo(filePath).Length;
            if (length != f.Bytes)
                throw new BundleException(BundleError.SizeMismatch, manifestPath, $"files[{i}].bytes", f.Bytes.ToString(), $"{f.Path} has {length} bytes");
            string sha = CheckpointHash.FileSha256(filePath);
            if (!string.Equals(sha, f.Sha256, StringComparison.Ordinal))
                throw new BundleException(BundleError.HashMismatch, manifestPath, $"files[{i}].sha256", f.Sha256, $"{f.Path} hashes to {sha}");
        }
        if (!listed.Contains(manifest.Model))
            throw new BundleException(BundleError.MissingFile, manifestPath, "files", manifest.Model, "the model file must be listed");
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
        if (options.Quality is { } q)
        {
            var invariant = System.Globalization.CultureInfo.InvariantCulture;
            metadata["mlconvert.quality.budget"] = q.Budget;
            metadata["mlconvert.quality.value"] = q.Value.ToString("R", invariant);
            metadata["mlconvert.quality.measured_mean_kl"] = q.MeasuredMeanKl.ToString("R", invariant);
            metadata["mlconvert.quality.eval_text"] = q.EvalText;
            metadata["mlconvert.quality.eval_text_sha256"] = q.EvalTextSha256;
            metadata["mlconvert.quality.tokens"] = q.Tokens.ToString(invariant);
            metadata["mlconvert.quality.context"] = q.Context.ToString(invariant);
        }
        return metadata;
    }
}
