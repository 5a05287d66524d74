using System.Text.Json;
using MobileLlmConvert.Formats.Json;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>One file of a bundle as the manifest lists it.</summary>
public sealed record BundleFile(string Path, long Bytes, string Sha256);

/// <summary>
/// manifest.json of a bundle directory (formats/mobile/SPEC.md, "Bundle"). Written with a fixed key
/// order, options sorted by key and no timestamps, so two runs give the same bytes.
/// </summary>
public sealed record BundleManifest(
    string Family,
    string Architecture,
    string? SourceCheckpointSha256,
    string ToolVersion,
    IReadOnlyDictionary<string, string> Options,
    long StoredParameters,
    long ExecutedParameters,
    IReadOnlyList<BundleFile> Files,
    QualityRecord? Quality = null,
    string Model = MobileBundle.ModelFileName)
{
    /// <summary>The manifest's "format" value.</summary>
    public const string FormatName = "mlconvert-mobile-bundle";
    /// <summary>The manifest's "format_version" value this code writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>A manifest lists a handful of files: 1 MiB is thousands of times what one needs.</summary>
    public const int MaxManifestBytes = 1 << 20;

    /// <summary>Tensors a "quality" record may list: far above any model's stored tensor count (MobileLLM-1B stores ~200).</summary>
    public const int MaxQualityTensors = 100_000;

    /// <summary>Bundles hold a model file and a few companions.</summary>
    public const int MaxFiles = 1_024;

    /// <summary>The manifest as UTF-8 JSON bytes, deterministic for equal records.</summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("format_version", FormatVersion);
            w.WriteString("model", Model);
            w.WriteString("family", Family);
            w.WriteString("architecture", Architecture);
            if (SourceCheckpointSha256 is null) w.WriteNull("source_checkpoint_sha256");
            else w.WriteString("source_checkpoint_sha256", SourceCheckpointSha256);
            w.WriteString("tool_version", ToolVersion);
            w.WriteStartObject("options");
            foreach (var key in Options.Keys.Order(StringComparer.Ordinal)) w.WriteString(key, Options[key]);
            w.WriteEndObject();
            w.WriteStartObject("parameters");
            w.WriteNumber("stored", StoredParameters);
            w.WriteNumber("executed", ExecutedParameters);
            w.WriteEndObject();
            w.WriteStartArray("files");
            foreach (var f in Files)
            {
                w.WriteStartObject();
                w.WriteString("path", f.Path);
                w.WriteNumber("bytes", f.Bytes);
                w.WriteString("sha256", f.Sha256);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (Quality is { } q) WriteQuality(w, q);
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>The optional "quality" object: an accuracy budget's result (docs/quantization.md, "Accuracy budget").</summary>
    private static void WriteQuality(Utf8JsonWriter w, QualityRecord q)
    {
        w.WriteStartObject("quality");
        w.WriteString("budget", q.Budget);
        w.WriteNumber("value", q.Value);
        w.WriteNumber("measured_mean_kl", q.MeasuredMeanKl);
        w.WriteString("eval_text", q.EvalText);
        w.WriteString("eval_text_sha256", q.EvalTextSha256);
        w.WriteNumber("tokens", q.Tokens);
        w.WriteNumber("context", q.Context);
        w.WriteStartObject("tensor_types");
        foreach (var (name, type) in q.TensorTypes) w.WriteString(name, type);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Parses a manifest (untrusted): types, the format name and version, and caps are checked; paths are checked by <see cref="MobileBundle.VerifyManifest"/>.</summary>
    public static BundleManifest Parse(ReadOnlySpan<byte> json, string file)
    {
        BundleException Bad(BundleError kind, string field, string value, string reason, Exception? inner = null) => new(kind, file, field, value, reason, inner);
        if (json.Length > MaxManifestBytes)
            throw Bad(BundleError.OverCap, "manifest.json", $"{json.Length} bytes", $"above the cap of {MaxManifestBytes} bytes ({nameof(MaxManifestBytes)})");
        int length = json.Length;
        var doc = StrictJson.Parse(json, new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 8 }, "manifest.json",
            (failure, _, value, reason, inner) => Bad(BundleError.ManifestParse, "manifest.json", inner is null ? value : $"{length} bytes",
                inner is null ? reason : $"not valid JSON ({inner.Message})", inner));
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(BundleError.BadField, "(root)", root.ValueKind.ToString(), "must be a JSON object");
            JsonElement Get(JsonElement obj, string name, JsonValueKind kind, string path)
            {
                if (!obj.TryGetProperty(name, out var v)) throw Bad(BundleError.BadField, path, "(absent)", "required field");
                if (v.ValueKind != kind) throw Bad(BundleError.BadField, path, v.ValueKind.ToString(), $"must be a JSON {kind}");
                return v;
            }
            string Str(JsonElement obj, string name, string path) => Get(obj, name, JsonValueKind.String, path).GetString()!;
            long Long(JsonElement obj, string name, string path)
            {
                var v = Get(obj, name, JsonValueKind.Number, path);
                if (!v.TryGetInt64(out long n) || n < 0) throw Bad(BundleError.BadField, path, v.GetRawText(), "must be a non-negative integer");
                return n;
            }

            string format = Str(root, "format", "format");
            long version = Long(root, "format_version", "format_version");
            if (format != FormatName || version != FormatVersion)
                throw Bad(BundleError.UnsupportedFormat, "format", $"{format} {version}", $"expected {FormatName} {FormatVersion}");
            string model = Str(root, "model", "model");
            if (!MobileBundle.ModelFileNames.Contains(model))
                throw Bad(BundleError.BadField, "model", model, $"the model file of a version-{FormatVersion} bundle is one of {string.Join(", ", MobileBundle.ModelFileNames)}");
            string? source = null;
            if (!root.TryGetProperty("source_checkpoint_sha256", out var src)) throw Bad(BundleError.BadField, "source_checkpoint_sha256", "(absent)", "required field (null when unknown)");
            if (src.ValueKind == JsonValueKind.String) source = src.GetString();
            else if (src.ValueKind != JsonValueKind.Null) throw Bad(BundleError.BadField, "source_checkpoint_sha256", src.ValueKind.ToString(), "must be a string or null");

            var options = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in Get(root, "options", JsonValueKind.Object, "options").EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw Bad(BundleError.BadField, "options." + p.Name, p.Value.ValueKind.ToString(), "option values are strings");
                options[p.Name] = p.Value.GetString()!;
            }
            var parameters = Get(root, "parameters", JsonValueKind.Object, "parameters");
            var filesArray = Get(root, "files", JsonValueKind.Array, "files");
            if (filesArray.GetArrayLength() > MaxFiles)
                throw Bad(BundleError.OverCap, "files", filesArray.GetArrayLength().ToString(), $"above the cap of {MaxFiles} ({nameof(MaxFiles)})");
            var files = new List<BundleFile>();
            int i = 0;
            foreach (var f in filesArray.EnumerateArray())
            {
                string at = $"files[{i++}]";
                if (f.ValueKind != JsonValueKind.Object) throw Bad(BundleError.BadField, at, f.ValueKind.ToString(), "must be a JSON object");
                files.Add(new BundleFile(Str(f, "path", at + ".path"), Long(f, "bytes", at + ".bytes"), Str(f, "sha256", at + ".sha256")));
            }
            QualityRecord? quality = null;
            if (root.TryGetProperty("quality", out var q))
            {
                if (q.ValueKind != JsonValueKind.Object) throw Bad(BundleError.BadField, "quality", q.ValueKind.ToString(), "must be a JSON object");
                string budget = Str(q, "budget", "quality.budget");
                if (!QualityRecord.BudgetNames.Contains(budget))
                    throw Bad(BundleError.BadField, "quality.budget", budget, $"expected one of {string.Join(", ", QualityRecord.BudgetNames)}");
                double Num(string name)
                {
                    var v = Get(q, name, JsonValueKind.Number, "quality." + name);
                    if (!v.TryGetDouble(out double d) || !double.IsFinite(d) || d < 0) throw Bad(BundleError.BadField, "quality." + name, v.GetRawText(), "must be a finite number >= 0");
                    return d;
                }
                int Int(string name)
                {
                    long n = Long(q, name, "quality." + name);
                    if (n > int.MaxValue) throw Bad(BundleError.BadField, "quality." + name, n.ToString(System.Globalization.CultureInfo.InvariantCulture), "above the int32 range");
                    return (int)n;
                }
                var typesObj = Get(q, "tensor_types", JsonValueKind.Object, "quality.tensor_types");
                var types = new List<KeyValuePair<string, string>>();
                foreach (var p in typesObj.EnumerateObject())
                {
                    if (types.Count == MaxQualityTensors)
                        throw Bad(BundleError.OverCap, "quality.tensor_types", $"more than {MaxQualityTensors}", $"above the cap of {MaxQualityTensors} ({nameof(MaxQualityTensors)})");
                    if (p.Value.ValueKind != JsonValueKind.String) throw Bad(BundleError.BadField, "quality.tensor_types." + p.Name, p.Value.ValueKind.ToString(), "type names are strings");
                    types.Add(new(p.Name, p.Value.GetString()!));
                }
                quality = new QualityRecord(budget, Num("value"), Num("measured_mean_kl"), Str(q, "eval_text", "quality.eval_text"),
                    Str(q, "eval_text_sha256", "quality.eval_text_sha256"), Int("tokens"), Int("context"), types);
            }
            return new BundleManifest(Str(root, "family", "family"), Str(root, "architecture", "architecture"), source,
                Str(root, "tool_version", "tool_version"), options, Long(parameters, "stored", "parameters.stored"),
                Long(parameters, "executed", "parameters.executed"), files, quality, model);
        }
    }
}
