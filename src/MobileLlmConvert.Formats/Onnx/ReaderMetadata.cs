using System.Globalization;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>One stored IR tensor as recorded in `mlconvert.tensors`: its IR key, base initializer name, IR type and shape.</summary>
internal sealed record OnnxRecordedTensor(string Key, string Name, ElementType Type, long[] Shape);

/// <summary>What the `mlconvert.*` metadata says the model is (before anything is checked against the graph).</summary>
internal sealed record OnnxRecorded(
    IOnnxProfile Profile,
    ModelConfig Config,
    int[][] Steps,
    IReadOnlyList<OnnxRecordedTensor> Tensors,
    string Embedding,
    string FinalNorm,
    string Output,
    bool Tied);

/// <summary>
/// Parses the `mlconvert.*` metadata_props the writer records (<see cref="OnnxMetadata"/>, formats/onnx.md)
/// as hostile input: every key required, every number range-checked, JSON depth and sizes capped.
/// </summary>
internal static class ReaderMetadata
{
    /// <summary>Caps on the recorded config: as the GGUF reader's, plus executed steps.</summary>
    private const int MaxWidth = 1 << 20, MaxHeads = 1 << 12, MaxContext = 1 << 26, MaxSteps = 1 << 12;
    /// <summary>context_length x head_dim bounds the rotary caches the graph builder computes (cos and sin, [context, head_dim/2] floats: 128 MiB at most).</summary>
    private const long MaxRotaryElements = 1L << 25;
    /// <summary>Nesting of our JSON values is 3 deep.</summary>
    private const int MaxJsonDepth = 8;

    public static OnnxRecorded Parse(OnnxContainer c)
    {
        string file = c.ModelFile;
        if (c.Model.ProducerName != OnnxWriter.Producer)
            throw new OnnxException(OnnxError.NotOurGraph, file, "producer_name", c.Model.ProducerName, $"only models written by {OnnxWriter.Producer} are read");
        string version = Require(c, OnnxMetadata.VersionKey);
        if (version != OnnxMetadata.FormatVersion)
            throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.VersionKey, version, $"this reader knows version {OnnxMetadata.FormatVersion}");
        string profileName = Require(c, OnnxMetadata.ProfileKey);
        var profile = OnnxProfiles.All.FirstOrDefault(p => p.Name == profileName)
            ?? throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.ProfileKey, profileName, $"known profiles are {OnnxProfiles.Names}");

        var config = Config(c, file);
        string familyText = Require(c, OnnxMetadata.FamilyKey);
        if (familyText != config.Family.ToString())
            throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.FamilyKey, familyText, $"{OnnxMetadata.ConfigKey} says {config.Family}");

        var steps = Json(c, OnnxMetadata.StepsKey, root =>
        {
            var list = Array(file, OnnxMetadata.StepsKey, root, MaxSteps);
            return list.Select((s, i) => Array(file, $"{OnnxMetadata.StepsKey}[{i}]", s, TensorRoles.Step.Count)
                .Select(b => Int(file, $"{OnnxMetadata.StepsKey}[{i}]", b, 0, MaxSteps - 1)).ToArray()).ToArray();
        });
        if (steps.Length != config.ExecutedLayers)
            throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.StepsKey, $"{steps.Length} steps", $"the config executes {config.ExecutedLayers}");
        for (int s = 0; s < steps.Length; s++)
        {
            if (steps[s].Length != TensorRoles.Step.Count)
                throw new OnnxException(OnnxError.BadMetadata, file, $"{OnnxMetadata.StepsKey}[{s}]", $"{steps[s].Length} blocks", $"one per step role ({TensorRoles.Step.Count})");
            foreach (int b in steps[s])
            {
                if (b >= config.StoredLayers)
                    throw new OnnxException(OnnxError.BadMetadata, file, $"{OnnxMetadata.StepsKey}[{s}]", Num(b), $"names a block past the {config.StoredLayers} stored blocks");
            }
        }

        var tensors = Json(c, OnnxMetadata.TensorsKey, root => Array(file, OnnxMetadata.TensorsKey, root, OnnxContainer.MaxInitializers).Select((t, i) =>
        {
            string f = $"{OnnxMetadata.TensorsKey}[{i}]";
            string key = String(file, f + ".key", t, "key"), name = String(file, f + ".name", t, "name"), typeName = String(file, f + ".type", t, "type");
            if (!ElementTypes.TryParse(typeName, out var type))
                throw new OnnxException(OnnxError.BadMetadata, file, f + ".type", typeName, "not an IR element type");
            var shape = Array(file, f + ".shape", Property(file, f, t, "shape"), OnnxContainer.MaxRank).Select(d => (long)Int(file, f + ".shape", d, 1, int.MaxValue)).ToArray();
            return new OnnxRecordedTensor(key, name, type, shape);
        }).ToList());
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!keys.Add(t.Key)) throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TensorsKey, t.Key, "an IR key recorded twice");
            if (!names.Add(t.Name)) throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TensorsKey, t.Name, "an initializer recorded for two tensors");
        }
        var types = Json(c, OnnxMetadata.TensorTypesKey, root =>
        {
            if (root.ValueKind != JsonValueKind.Object) throw Bad(file, OnnxMetadata.TensorTypesKey, root.ValueKind.ToString(), "must be an object");
            return root.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : "", StringComparer.Ordinal);
        });
        foreach (var t in tensors)
        {
            if (!types.TryGetValue(t.Name, out var recorded) || recorded != t.Type.Info().Name)
                throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TensorTypesKey + "." + t.Name, recorded ?? "(absent)", $"{OnnxMetadata.TensorsKey} records {t.Type.Info().Name}");
        }
        if (types.Count != tensors.Count)
            throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TensorTypesKey, $"{types.Count} entries", $"{OnnxMetadata.TensorsKey} records {tensors.Count} tensors");

        var (embedding, finalNorm, output) = Json(c, OnnxMetadata.ModelKeysKey, root =>
            (String(file, OnnxMetadata.ModelKeysKey + ".embedding", root, "embedding"),
             String(file, OnnxMetadata.ModelKeysKey + ".final_norm", root, "final_norm"),
             String(file, OnnxMetadata.ModelKeysKey + ".output", root, "output")));
        string tied = Require(c, OnnxMetadata.TiedKey);
        if (tied is not ("true" or "false") || (tied == "true") != (embedding == output))
            throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TiedKey, tied, $"the model keys say the head {(embedding == output ? "is" : "is not")} the embedding");
        return new OnnxRecorded(profile, config, steps, tensors, embedding, finalNorm, output, tied == "true");
    }

    private static ModelConfig Config(OnnxContainer c, string file) => Json(c, OnnxMetadata.ConfigKey, root =>
    {
        string k = OnnxMetadata.ConfigKey;
        int I(string name, int min, int max) => Int(file, $"{k}.{name}", Property(file, k, root, name), min, max);
        int? OptI(string name, int min, int max) => root.TryGetProperty(name, out var v) ? Int(file, $"{k}.{name}", v, min, max) : null;
        string familyText = String(file, k + ".family", root, "family");
        if (!Enum.TryParse<ModelFamily>(familyText, ignoreCase: false, out var family) || !Enum.IsDefined(family) || familyText.Any(char.IsDigit))
            throw Bad(file, k + ".family", familyText, $"one of {string.Join(", ", Enum.GetNames<ModelFamily>())}");
        int heads = I("num_heads", 1, MaxHeads);
        int vocab = I("vocab_size", 1, int.MaxValue);
        var config = new ModelConfig
        {
            Family = family,
            Architecture = String(file, k + ".architecture", root, "architecture"),
            VocabSize = vocab,
            HiddenSize = I("hidden_size", 1, MaxWidth),
            IntermediateSize = I("intermediate_size", 1, MaxWidth),
            NumHeads = heads,
            NumKvHeads = I("num_kv_heads", 1, heads),
            HeadDim = I("head_dim", 2, MaxWidth),
            StoredLayers = I("stored_layers", 1, MaxSteps),
            ExecutedLayers = I("executed_layers", 1, MaxSteps),
            RmsNormEps = FloatBits(file, k, root, "rms_norm_eps_bits"),
            RopeTheta = FloatBits(file, k, root, "rope_theta_bits"),
            ContextLength = I("context_length", 1, MaxContext),
            TieClaimFlag = root.TryGetProperty("tie_claim_flag", out var flag) ? String(file, k + ".tie_claim_flag", root, "tie_claim_flag") : null,
            BosTokenId = OptI("bos_token_id", 0, vocab - 1),
            EosTokenId = OptI("eos_token_id", 0, vocab - 1),
        };
        if (config.StoredLayers > config.ExecutedLayers)
            throw Bad(file, k + ".stored_layers", Num(config.StoredLayers), $"more than the {config.ExecutedLayers} executed layers");
        if ((long)config.ContextLength * config.HeadDim > MaxRotaryElements)
            throw Bad(file, k + ".context_length", Num(config.ContextLength), $"context_length x head_dim above {MaxRotaryElements}");
        return config;
    });

    private static float FloatBits(string file, string k, JsonElement root, string name)
    {
        string text = String(file, $"{k}.{name}", root, name);
        if (text.Length != 8 || !uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint bits))
            throw Bad(file, $"{k}.{name}", text, "must be 8 hex digits (the float's bits)");
        float f = BitConverter.UInt32BitsToSingle(bits);
        if (!(f > 0) || !float.IsFinite(f)) throw Bad(file, $"{k}.{name}", text, "must be a positive finite float");
        return f;
    }

    private static string Require(OnnxContainer c, string key) =>
        c.Metadata.TryGetValue(key, out var v) ? v
            : throw new OnnxException(OnnxError.MissingMetadata, c.ModelFile, "metadata_props." + key, "(absent)", "required to rebuild the model");

    private static T Json<T>(OnnxContainer c, string key, Func<JsonElement, T> read)
    {
        string text = Require(c, key);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e)
        {
            throw new OnnxException(OnnxError.BadMetadata, c.ModelFile, "metadata_props." + key, text, "not valid JSON: " + e.Message);
        }
        using (doc) return read(doc.RootElement);
    }

    private static JsonElement Property(string file, string field, JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Bad(file, field, e.ValueKind.ToString(), "must be an object");
        return e.TryGetProperty(name, out var v) ? v : throw new OnnxException(OnnxError.MissingMetadata, file, field + "." + name, "(absent)", "required to rebuild the model");
    }

    private static string String(string file, string field, JsonElement parent, string name)
    {
        var v = Property(file, field, parent, name);
        if (v.ValueKind != JsonValueKind.String) throw Bad(file, field, v.ValueKind.ToString(), "must be a string");
        string s = v.GetString()!;
        if (s.Length == 0 || s.Length > OnnxContainer.MaxNameChars) throw Bad(file, field, s, $"must be 1..{OnnxContainer.MaxNameChars} characters");
        return s;
    }

    private static List<JsonElement> Array(string file, string field, JsonElement e, int max)
    {
        if (e.ValueKind != JsonValueKind.Array) throw Bad(file, field, e.ValueKind.ToString(), "must be an array");
        int n = e.GetArrayLength();
        if (n > max) throw Bad(file, field, $"{n} entries", $"at most {max}");
        return e.EnumerateArray().ToList();
    }

    private static int Int(string file, string field, JsonElement e, int min, int max)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
            throw Bad(file, field, e.ToString(), "must be an integer");
        if (v < min || v > max) throw Bad(file, field, Num(v), $"must be in {min}..{max}");
        return v;
    }

    private static OnnxException Bad(string file, string field, string value, string reason) => new(OnnxError.BadMetadata, file, field, value, reason);
    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);
}
