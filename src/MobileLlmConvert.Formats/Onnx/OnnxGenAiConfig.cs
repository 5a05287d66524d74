using System.Text.Encodings.Web;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// genai_config.json for ONNX Runtime GenAI (onnxruntime-genai docs/config.md; src/config.cpp refuses
/// unknown keys, so only documented keys are written). model.type is "llama": GenAI 0.18 knows no
/// "mobilellm", and our graph is a Llama decoder whatever the family. num_hidden_layers counts
/// EXECUTED steps, the number of past/present pairs the graph has.
/// </summary>
internal static class OnnxGenAiConfig
{
    /// <summary>GenAI's model type for a Llama-style decoder.</summary>
    public const string ModelType = "llama";

    /// <summary>The file's bytes (indented JSON, keys in a fixed order, trailing newline).</summary>
    public static byte[] Build(ModelIr ir)
    {
        var c = ir.Config;
        int bos = ir.Tokenizer?.BosId ?? c.BosTokenId ?? 1;
        int eos = ir.Tokenizer?.EosId ?? c.EosTokenId ?? 2;
        int pad = ir.Tokenizer?.PadId ?? eos;
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartObject("model");
            w.WriteNumber("bos_token_id", bos);
            w.WriteNumber("context_length", c.ContextLength);
            w.WriteStartObject("decoder");
            w.WriteString("filename", OnnxWriter.ModelFile);
            w.WriteNumber("head_size", c.HeadDim);
            w.WriteNumber("hidden_size", c.HiddenSize);
            w.WriteStartObject("inputs");
            w.WriteString("input_ids", OnnxGraph.InputIds);
            w.WriteString("attention_mask", OnnxGraph.AttentionMask);
            w.WriteString("position_ids", OnnxGraph.PositionIds);
            w.WriteString("past_key_names", "past_key_values.%d.key");
            w.WriteString("past_value_names", "past_key_values.%d.value");
            w.WriteEndObject();
            w.WriteStartObject("outputs");
            w.WriteString("logits", OnnxGraph.Logits);
            w.WriteString("present_key_names", "present.%d.key");
            w.WriteString("present_value_names", "present.%d.value");
            w.WriteEndObject();
            w.WriteNumber("num_attention_heads", c.NumHeads);
            w.WriteNumber("num_hidden_layers", ir.Steps.Count);
            w.WriteNumber("num_key_value_heads", c.NumKvHeads);
            w.WriteEndObject();
            w.WriteNumber("eos_token_id", eos);
            w.WriteNumber("pad_token_id", pad);
            w.WriteString("type", ModelType);
            w.WriteNumber("vocab_size", c.VocabSize);
            w.WriteEndObject();
            w.WriteStartObject("search");
            w.WriteNumber("max_length", c.ContextLength);
            // Our GroupQueryAttention concatenates past and current keys into a new present; GenAI then
            // passes present back as past (a Concat-style cache), so the buffers are not shared.
            w.WriteBoolean("past_present_share_buffer", false);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return [.. buffer.ToArray(), (byte)'\n'];
    }
}
