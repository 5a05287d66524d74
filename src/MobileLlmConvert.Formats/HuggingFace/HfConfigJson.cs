using System.Globalization;
using System.Text.Json;
using MobileLlmConvert.Formats.Json;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// Stage one of reading config.json (DESIGN.md): the fields we look at, exactly as on disk — null
/// when absent (or JSON null). Only JSON types are checked here; meaning, defaults and caps are the
/// family table's job (<see cref="HfFamilies"/>).
/// </summary>
public sealed record HfConfigJson
{
    /// <summary>config.json architectures.</summary>
    public IReadOnlyList<string>? Architectures { get; init; }
    /// <summary>config.json model_type.</summary>
    public string? ModelType { get; init; }
    /// <summary>config.json vocab_size.</summary>
    public int? VocabSize { get; init; }
    /// <summary>config.json hidden_size.</summary>
    public int? HiddenSize { get; init; }
    /// <summary>config.json intermediate_size.</summary>
    public int? IntermediateSize { get; init; }
    /// <summary>config.json num_hidden_layers (stored blocks).</summary>
    public int? NumHiddenLayers { get; init; }
    /// <summary>config.json num_attention_heads.</summary>
    public int? NumAttentionHeads { get; init; }
    /// <summary>config.json num_key_value_heads (absent means MHA).</summary>
    public int? NumKeyValueHeads { get; init; }
    /// <summary>config.json head_dim (absent means hidden_size / num_attention_heads).</summary>
    public int? HeadDim { get; init; }
    /// <summary>config.json max_position_embeddings.</summary>
    public int? MaxPositionEmbeddings { get; init; }
    /// <summary>config.json rms_norm_eps.</summary>
    public double? RmsNormEps { get; init; }
    /// <summary>config.json rope_theta.</summary>
    public double? RopeTheta { get; init; }
    /// <summary>config.json hidden_act (only silu is supported).</summary>
    public string? HiddenAct { get; init; }
    /// <summary>config.json tie_word_embeddings.</summary>
    public bool? TieWordEmbeddings { get; init; }
    /// <summary>MobileLLM: the head reuses the embedding (while tie_word_embeddings stays false).</summary>
    public bool? ShareEmbedding { get; init; }
    /// <summary>MobileLLM-LS: every stored block executes twice, immediately.</summary>
    public bool? LayerSharing { get; init; }
    /// <summary>config.json attention_bias (true is unsupported).</summary>
    public bool? AttentionBias { get; init; }
    /// <summary>config.json mlp_bias (true is unsupported).</summary>
    public bool? MlpBias { get; init; }
    /// <summary>The raw JSON of rope_scaling when present and not null.</summary>
    public string? RopeScaling { get; init; }
    /// <summary>config.json bos_token_id.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>The first id when config.json lists several (Llama 3 style).</summary>
    public int? EosTokenId { get; init; }
    /// <summary>config.json torch_dtype.</summary>
    public string? TorchDtype { get; init; }
    /// <summary>MobileLLM-LS configs say false (their code's cache is wrong for repeated blocks); recorded, never obeyed.</summary>
    public bool? UseCache { get; init; }

    /// <summary>config.json is a few KB; 1 MB is generous and keeps a hostile file from being parsed at length.</summary>
    public const int MaxConfigBytes = 1 << 20;

    /// <summary>Stage one of reading config.json: the fields exactly as on disk, strictly typed, under <see cref="MaxConfigBytes"/>.</summary>
    public static HfConfigJson Parse(byte[] json, string path)
    {
        using var doc = StrictJson.ParseObject(json, MaxConfigBytes, maxDepth: 32, "config.json", (failure, field, value, reason, inner) =>
            new HfConfigException(failure switch
            {
                JsonFailure.TooLarge => HfConfigError.FileTooLarge,
                JsonFailure.InvalidUtf8 or JsonFailure.Invalid => HfConfigError.InvalidJson,
                _ => HfConfigError.NotObject,
            }, path, field, value, reason, inner));
        var root = doc.RootElement;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in root.EnumerateObject())
        {
            // Python's json keeps the last duplicate, other readers the first: refuse to guess.
            if (!keys.Add(p.Name))
                throw new HfConfigException(HfConfigError.InvalidJson, path, p.Name, "(twice)", "key appears more than once");
        }
        var r = new Fields(root, path);
        return new HfConfigJson
        {
            Architectures = r.StringArray("architectures"),
            ModelType = r.String("model_type"),
            VocabSize = r.Int("vocab_size"),
            HiddenSize = r.Int("hidden_size"),
            IntermediateSize = r.Int("intermediate_size"),
            NumHiddenLayers = r.Int("num_hidden_layers"),
            NumAttentionHeads = r.Int("num_attention_heads"),
            NumKeyValueHeads = r.Int("num_key_value_heads"),
            HeadDim = r.Int("head_dim"),
            MaxPositionEmbeddings = r.Int("max_position_embeddings"),
            RmsNormEps = r.Double("rms_norm_eps"),
            RopeTheta = r.Double("rope_theta"),
            HiddenAct = r.String("hidden_act"),
            TieWordEmbeddings = r.Bool("tie_word_embeddings"),
            ShareEmbedding = r.Bool("share_embedding"),
            LayerSharing = r.Bool("layer_sharing"),
            AttentionBias = r.Bool("attention_bias"),
            MlpBias = r.Bool("mlp_bias"),
            RopeScaling = r.Raw("rope_scaling"),
            BosTokenId = r.IntOrFirst("bos_token_id"),
            EosTokenId = r.IntOrFirst("eos_token_id"),
            TorchDtype = r.String("torch_dtype"),
            UseCache = r.Bool("use_cache"),
        };
    }

    private readonly struct Fields(JsonElement root, string path)
    {
        private bool TryGet(string name, out JsonElement value) =>
            root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

        private HfConfigException Wrong(string name, JsonElement v, string expected) =>
            new(HfConfigError.WrongType, path, name, v.GetRawText(), $"must be {expected}");

        public string? String(string name)
        {
            if (!TryGet(name, out var v)) return null;
            return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Wrong(name, v, "a string");
        }

        public bool? Bool(string name)
        {
            if (!TryGet(name, out var v)) return null;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Wrong(name, v, "true or false"),
            };
        }

        public int? Int(string name)
        {
            if (!TryGet(name, out var v)) return null;
            return ToInt(name, v);
        }

        private int ToInt(string name, JsonElement v)
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n)) throw Wrong(name, v, "an integer");
            if (n < int.MinValue || n > int.MaxValue)
                throw new HfConfigException(HfConfigError.OutOfRange, path, name, v.GetRawText(), "does not fit a 32-bit integer");
            return (int)n;
        }

        public int? IntOrFirst(string name)
        {
            if (!TryGet(name, out var v)) return null;
            if (v.ValueKind != JsonValueKind.Array) return ToInt(name, v);
            if (v.GetArrayLength() == 0) return null;
            return ToInt(name, v[0]);
        }

        public double? Double(string name)
        {
            if (!TryGet(name, out var v)) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d)) throw Wrong(name, v, "a number");
            return d;
        }

        public string? Raw(string name) => TryGet(name, out var v) ? v.GetRawText() : null;

        public IReadOnlyList<string>? StringArray(string name)
        {
            if (!TryGet(name, out var v)) return null;
            if (v.ValueKind != JsonValueKind.Array) throw Wrong(name, v, "an array of strings");
            var list = new List<string>();
            foreach (var item in v.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) throw Wrong(name, v, "an array of strings");
                list.Add(item.GetString()!);
            }
            return list;
        }
    }
}
