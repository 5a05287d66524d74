using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Mobile;

public enum BundleError
{
    MissingManifest,
    /// <summary>manifest.json above <see cref="BundleManifest.MaxManifestBytes"/>, or too many files listed.</summary>
    OverCap,
    ManifestParse,
    /// <summary>A required field is absent or has the wrong JSON type or value.</summary>
    BadField,
    UnsupportedFormat,
    /// <summary>A listed path is not a plain file name inside the bundle (separators, "..", absolute, a link).</summary>
    BadPath,
    DuplicatePath,
    MissingFile,
    SizeMismatch,
    HashMismatch,
    /// <summary>A file in the bundle directory that the manifest does not list.</summary>
    UnlistedFile,
}

/// <summary>A bundle directory whose manifest is malformed or disagrees with the files beside it.</summary>
public sealed class BundleException(BundleError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<BundleError>(kind, file, field, value, reason, inner)
{
    public override string Format => "bundle";
}
