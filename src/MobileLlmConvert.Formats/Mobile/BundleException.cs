using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>One kind per way a bundle directory or its manifest.json can be bad.</summary>
public enum BundleError
{
    /// <summary>The directory has no manifest.json.</summary>
    MissingManifest,
    /// <summary>manifest.json above <see cref="BundleManifest.MaxManifestBytes"/>, or too many files listed.</summary>
    OverCap,
    /// <summary>manifest.json is not valid JSON (or has a duplicate key).</summary>
    ManifestParse,
    /// <summary>A required field is absent or has the wrong JSON type or value.</summary>
    BadField,
    /// <summary>The manifest's format name or version is not one this reader knows.</summary>
    UnsupportedFormat,
    /// <summary>A listed path is not a plain file name inside the bundle (separators, "..", absolute, a link).</summary>
    BadPath,
    /// <summary>A path listed twice.</summary>
    DuplicatePath,
    /// <summary>A listed file is absent.</summary>
    MissingFile,
    /// <summary>A listed file's size differs from the manifest.</summary>
    SizeMismatch,
    /// <summary>A listed file's SHA-256 differs from the manifest.</summary>
    HashMismatch,
    /// <summary>A file in the bundle directory that the manifest does not list.</summary>
    UnlistedFile,
}

/// <summary>A bundle directory whose manifest is malformed or disagrees with the files beside it.</summary>
public sealed class BundleException(BundleError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<BundleError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "bundle";
}
