using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Mobile;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// inspect's view of a bundle directory before the model: its manifest (options, source checkpoint
/// hash, tool version, counts, files) and the bundle-only check (`verify --bundle-only`, i.e.
/// <see cref="MobileBundle.VerifyManifest"/>) said as OK or FAILED with the reason. A manifest
/// that can be read is shown even when the check fails, so a user sees what the bundle claims.
/// </summary>
internal sealed record InspectBundle(string Dir, BundleManifest? Manifest, ModelFormatException? Failure)
{
    /// <summary>Null when <paramref name="path"/> is not (in) a bundle directory.</summary>
    public static InspectBundle? Of(string path, IModelFormat kind)
    {
        if (kind is not (MobileFileFormat or MobileBundleFormat) || MobileBundle.BundleDirOf(path) is not { } dir) return null;
        try
        {
            return new InspectBundle(dir, MobileBundle.VerifyManifest(dir), null);
        }
        catch (ModelFormatException e)
        {
            return new InspectBundle(dir, MobileBundle.TryReadManifest(dir), e);
        }
    }

    public bool Ok => Failure is null;

    public IEnumerable<string> TextLines()
    {
        yield return $"bundle: {Dir}";
        if (Manifest is { } m)
        {
            yield return $"  manifest: {BundleManifest.FormatName} v{BundleManifest.FormatVersion}, tool {m.ToolVersion}, family {m.Family} ({m.Architecture})";
            yield return $"  source checkpoint sha256: {m.SourceCheckpointSha256 ?? "(not recorded)"}";
            yield return "  options: " + (m.Options.Count == 0 ? "(none)" : string.Join(", ", m.Options.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")));
            yield return $"  parameters: {Format.Count(m.StoredParameters)} stored, {Format.Count(m.ExecutedParameters)} executed";
            foreach (var f in m.Files) yield return $"  file: {f.Path} ({Format.Count(f.Bytes)} bytes, sha256 {f.Sha256})";
        }
        yield return Failure is null
            ? "  verification: OK (names, types, sizes and sha256 match the manifest; no unlisted file)"
            : $"  verification: FAILED: {Failure.Message}";
    }

    /// <summary><c>"bundle": {"dir", "manifest": {as written}, "verification": "ok"}</c> (only written when the check passed).</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject("bundle");
        w.WriteString("dir", Dir);
        w.WritePropertyName("manifest");
        w.WriteRawValue(Manifest!.ToJson());
        w.WriteString("verification", Ok ? "ok" : "failed");
        w.WriteEndObject();
    }
}
