using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// config.json and tokenizer_config.json as each family's released checkpoints write them: keys
/// sorted (transformers' to_json_string sorts), indent 2. MobileLLM keeps its own sharing keys
/// (share_embedding, layer_sharing) with tie_word_embeddings false; MobiLlama says model_type
/// "llama" and num_key_value_heads 4 as released, although its code ignores that value.
/// </summary>
internal static class HfConfigWriter
{
    /// <summary>MBZUAI's released MobiLlama config.json carries 4 here; the modelling code uses full MHA regardless.</summary>
    public const int MobiLlamaReleasedKvHeads = 4;

    public static byte[] Config(ModelIr ir, bool layerSharing, ElementType dtype)
    {
        var c = ir.Config;
        var family = HfFamilies.For(c.Family);
        bool tieClaim = ir.IsTied || c.TieClaimFlag is not null;
        var keys = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["architectures"] = new[] { family.Architecture },
            ["attention_bias"] = false,
            ["attention_dropout"] = 0.0f,
            ["bos_token_id"] = c.BosTokenId ?? ir.Tokenizer?.BosId ?? 1,
            ["eos_token_id"] = c.EosTokenId ?? ir.Tokenizer?.EosId ?? 2,
            ["hidden_act"] = "silu",
            ["hidden_size"] = c.HiddenSize,
            ["initializer_range"] = 0.02f,
            ["intermediate_size"] = c.IntermediateSize,
            ["max_position_embeddings"] = c.ContextLength,
            ["model_type"] = family.ModelType,
            ["num_attention_heads"] = c.NumHeads,
            ["num_hidden_layers"] = c.StoredLayers,
            ["num_key_value_heads"] = c.NumKvHeads,
            ["pretraining_tp"] = 1,
            ["rms_norm_eps"] = c.RmsNormEps,
            ["rope_scaling"] = null,
            ["rope_theta"] = c.RopeTheta,
            ["tie_word_embeddings"] = tieClaim,
            ["torch_dtype"] = dtype switch { ElementType.F16 => "float16", ElementType.BF16 => "bfloat16", _ => "float32" },
            // The released layer-share configs (facebook/MobileLLM-125M-layer-share) say use_cache false:
            // their code's cache is wrong for repeated blocks. The importer records it and caches anyway.
            ["use_cache"] = !layerSharing,
            ["vocab_size"] = c.VocabSize,
        };
        switch (c.Family)
        {
            case ModelFamily.Llama:
                keys["head_dim"] = c.HeadDim;
                keys["mlp_bias"] = false;
                break;
            case ModelFamily.MobileLLM:
                keys["head_dim"] = c.HeadDim;
                keys["mlp_bias"] = false;
                keys["share_embedding"] = tieClaim;
                keys["tie_word_embeddings"] = false;
                keys["layer_sharing"] = layerSharing;
                break;
            case ModelFamily.MobiLlama:
                keys["num_key_value_heads"] = MobiLlamaReleasedKvHeads;
                break;
        }
        return Write(keys);
    }

    /// <summary>A LlamaTokenizer tokenizer_config.json for a vocabulary that came without one.</summary>
    public static byte[] TokenizerConfig(TokenizerIr tok, int contextLength)
    {
        var keys = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["add_bos_token"] = tok.AddBos,
            ["add_eos_token"] = tok.AddEos,
            ["bos_token"] = tok.Pieces[tok.BosId],
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = tok.Pieces[tok.EosId],
            ["legacy"] = false,
            ["model_max_length"] = contextLength,
            ["pad_token"] = tok.PadId is { } pad ? tok.Pieces[pad] : null,
            ["sp_model_kwargs"] = new SortedDictionary<string, object?>(),
            // transformers' class for a byte-level BPE tokenizer.json is GPT2Tokenizer (as SmolLM2's config names it).
            ["tokenizer_class"] = tok.Kind == TokenizerKind.ByteLevelBpe ? "GPT2Tokenizer" : "LlamaTokenizer",
            ["unk_token"] = tok.Pieces[tok.UnkId],
        };
        return Write(keys);
    }

    private static byte[] Write(SortedDictionary<string, object?> keys)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            WriteValue(w, keys);
        }
        return [.. buffer.WrittenSpan, (byte)'\n'];
    }

    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case string s: w.WriteStringValue(s); break;
            case bool b: w.WriteBooleanValue(b); break;
            case int i: w.WriteNumberValue(i); break;
            case float f: w.WriteRawValue(FloatLiteral(f)); break;
            case string[] arr:
                w.WriteStartArray();
                foreach (var s in arr) w.WriteStringValue(s);
                w.WriteEndArray();
                break;
            case SortedDictionary<string, object?> obj:
                w.WriteStartObject();
                foreach (var (k, v) in obj)
                {
                    w.WritePropertyName(k);
                    WriteValue(w, v);
                }
                w.WriteEndObject();
                break;
            default: throw new ArgumentException($"no JSON form for {value.GetType()}");
        }
    }

    /// <summary>Shortest round-trip float, with ".0" on whole numbers as Python writes floats (10000.0, 1e-05 as Python spells it).</summary>
    private static string FloatLiteral(float f)
    {
        string s = f.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
        return s.Contains('.') || s.Contains('e') ? s : s + ".0";
    }
}
