using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;
using Onnx;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// The `mlconvert.*` entries of ModelProto.metadata_props: enough to rebuild the IR exactly (config,
/// every stored tensor's key, ONNX name, IR type and shape, the model-level keys and the step map).
/// Values are compact JSON or plain text; formats/onnx.md lists every key.
/// </summary>
internal static class OnnxMetadata
{
    /// <summary>Prefix of every key we write.</summary>
    public const string Prefix = "mlconvert.";
    /// <summary>Version of this key set (also the model's producer_version).</summary>
    public const string FormatVersion = "1";

    /// <summary>Key: version of this key set.</summary>
    public const string VersionKey = Prefix + "format_version";
    /// <summary>Key: "genai" or "standard".</summary>
    public const string ProfileKey = Prefix + "profile";
    /// <summary>Key: the model family ("MobileLLM", "MobiLlama", "Llama").</summary>
    public const string FamilyKey = Prefix + "family";
    /// <summary>Key: the resolved config as a JSON object.</summary>
    public const string ConfigKey = Prefix + "config";
    /// <summary>Key: per executed step, the stored block of each of the nine per-step roles (JSON [[...]]).</summary>
    public const string StepsKey = Prefix + "steps";
    /// <summary>Key: every stored tensor in IR order as JSON [{"key","name","type","shape"}].</summary>
    public const string TensorsKey = Prefix + "tensors";
    /// <summary>Key: each initializer base name's IR element type (JSON {"name": "q4_0"}).</summary>
    public const string TensorTypesKey = Prefix + "tensor_types";
    /// <summary>Key: the IR keys of the embedding, final norm and head (JSON object).</summary>
    public const string ModelKeysKey = Prefix + "model_keys";
    /// <summary>Key: "true" when the head is the embedding tensor.</summary>
    public const string TiedKey = Prefix + "tied";

    /// <summary>The metadata_props entries for <paramref name="ir"/> written with graph <paramref name="g"/>.</summary>
    public static IEnumerable<StringStringEntryProto> Build(ModelIr ir, OnnxGraphBuilder g, IOnnxProfile profile)
    {
        var names = OnnxGraph.WeightNames(ir);
        var c = ir.Config;
        yield return Entry(VersionKey, FormatVersion);
        yield return Entry(ProfileKey, profile.Name);
        yield return Entry(FamilyKey, c.Family.ToString());
        yield return Entry(ConfigKey, Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("family", c.Family.ToString());
            w.WriteString("architecture", c.Architecture);
            w.WriteNumber("vocab_size", c.VocabSize);
            w.WriteNumber("hidden_size", c.HiddenSize);
            w.WriteNumber("intermediate_size", c.IntermediateSize);
            w.WriteNumber("num_heads", c.NumHeads);
            w.WriteNumber("num_kv_heads", c.NumKvHeads);
            w.WriteNumber("head_dim", c.HeadDim);
            w.WriteNumber("stored_layers", c.StoredLayers);
            w.WriteNumber("executed_layers", c.ExecutedLayers);
            // Floats as their exact bits in hex too: decimal text is for people, bits are what the reader restores.
            w.WriteNumber("rms_norm_eps", c.RmsNormEps);
            w.WriteString("rms_norm_eps_bits", Bits(c.RmsNormEps));
            w.WriteNumber("rope_theta", c.RopeTheta);
            w.WriteString("rope_theta_bits", Bits(c.RopeTheta));
            w.WriteNumber("context_length", c.ContextLength);
            if (c.TieClaimFlag is { } flag) w.WriteString("tie_claim_flag", flag);
            if (c.BosTokenId is { } bos) w.WriteNumber("bos_token_id", bos);
            if (c.EosTokenId is { } eos) w.WriteNumber("eos_token_id", eos);
            w.WriteEndObject();
        }));
        yield return Entry(StepsKey, Json(w =>
        {
            w.WriteStartArray();
            foreach (var step in OnnxGraph.StepBlocks(ir))
            {
                w.WriteStartArray();
                foreach (int b in step) w.WriteNumberValue(b);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }));
        yield return Entry(TensorsKey, Json(w =>
        {
            w.WriteStartArray();
            foreach (var t in ir.Tensors)
            {
                if (!names.TryGetValue(t.Name, out var name)) continue;
                w.WriteStartObject();
                w.WriteString("key", t.Name);
                w.WriteString("name", name);
                w.WriteString("type", t.Type.Info().Name);
                w.WriteStartArray("shape");
                foreach (long d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }));
        yield return Entry(TensorTypesKey, Json(w =>
        {
            w.WriteStartObject();
            foreach (var t in ir.Tensors)
            {
                if (names.TryGetValue(t.Name, out var name)) w.WriteString(name, t.Type.Info().Name);
            }
            w.WriteEndObject();
        }));
        yield return Entry(ModelKeysKey, Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("embedding", ir.Embedding);
            w.WriteString("final_norm", ir.FinalNorm);
            w.WriteString("output", ir.Output);
            w.WriteEndObject();
        }));
        yield return Entry(TiedKey, ir.IsTied ? "true" : "false");
    }

    private static string Bits(float f) => BitConverter.SingleToUInt32Bits(f).ToString("x8", CultureInfo.InvariantCulture);

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(w);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
