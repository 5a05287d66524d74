using System.Globalization;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// One supported Hugging Face architecture, as data (the Hub config.json and modeling files of each family).
/// </summary>
/// <param name="ModelType">The model_type its released configs carry.</param>
/// <param name="TieFlags">Config flags that claim a tied head, in order of preference.</param>
/// <param name="FullMha">The modelling code ignores num_key_value_heads (MobiLlama): every head has its own K/V.</param>
/// <param name="FixedRopeTheta">The modelling code hard-codes the RoPE base, ignoring rope_theta (MobiLlama: 10000).</param>
/// <param name="SharedFfn">One FFN module serves every block (MobiLlama).</param>
/// <param name="HasLayerSharing">layer_sharing = true repeats each stored block twice, immediately (MobileLLM-LS).</param>
/// <param name="DefaultRmsNormEps">transformers' default when rms_norm_eps is absent; null makes the field required.</param>
/// <param name="Architecture">The architectures[0] string that selects this family.</param>
/// <param name="Family">The IR family it resolves to.</param>
public sealed record HfFamily(
    string Architecture,
    ModelFamily Family,
    string ModelType,
    IReadOnlyList<string> TieFlags,
    bool FullMha,
    float? FixedRopeTheta,
    bool SharedFfn,
    bool HasLayerSharing,
    double? DefaultRmsNormEps)
{
    /// <summary>
    /// A config flag that, when true, makes the modelling code compute logits with the embedding and
    /// never read a stored lm_head.weight (MobileLLM's share_embedding), or null.
    /// </summary>
    public string? EmbeddingHeadFlag { get; init; }
    /// <summary>The name `--family` takes for this family.</summary>
    public string FlagName => Family.ToString().ToLowerInvariant();
}

/// <summary>How to import a checkpoint. <see cref="Family"/> (`--family`) overrides the family config.json declares.</summary>
public sealed record HfImportOptions
{
    /// <summary>The family to use instead of the one config.json declares, or null.</summary>
    public ModelFamily? Family { get; init; }

    /// <summary>No override.</summary>
    public static readonly HfImportOptions Default = new();
}

/// <summary>A resolved config plus the family facts the importer and exporter need to lay out tensors.</summary>
/// <param name="HeadIsEmbedding">The family's modelling code computes logits with the embedding whatever the file stores (MobileLLM share_embedding).</param>
/// <param name="Notes">What the family rules decided from config.json alone (fields ignored, overrides), for the import notes.</param>
/// <param name="Config">The resolved, validated configuration.</param>
/// <param name="Family">The family whose rules applied.</param>
/// <param name="LayerSharing">Every stored block executes twice (MobileLLM-LS).</param>
public sealed record HfResolvedConfig(ModelConfig Config, HfFamily Family, bool LayerSharing, bool HeadIsEmbedding, IReadOnlyList<string> Notes);

/// <summary>Stage two of reading config.json: the family table turns an <see cref="HfConfigJson"/> into a <see cref="ModelConfig"/>.</summary>
public static class HfFamilies
{
    /// <summary>Four times the largest vocabularies in use (~256k).</summary>
    public const int MaxVocab = 1 << 20;
    /// <summary>Far above any model this tool targets (MobileLLM 1.5B: 1600, Llama 70B: 8192).</summary>
    public const int MaxHidden = 1 << 16;
    /// <summary>Cap on intermediate_size (4x hidden at the hidden cap).</summary>
    public const int MaxIntermediate = 1 << 18;
    /// <summary>Cap on num_hidden_layers.</summary>
    public const int MaxLayers = 1024;
    /// <summary>Cap on attention heads.</summary>
    public const int MaxHeads = 1024;
    /// <summary>Cap on head_dim.</summary>
    public const int MaxHeadDim = 1024;
    /// <summary>Cap on max_position_embeddings.</summary>
    public const int MaxContext = 1 << 24;
    /// <summary>Cap on rope_theta.</summary>
    public const double MaxRopeTheta = 1e9;
    /// <summary>The RoPE base transformers' LlamaConfig uses when rope_theta is absent.</summary>
    public const float DefaultRopeTheta = 10000f;
    /// <summary>transformers' LlamaConfig default for max_position_embeddings.</summary>
    public const int DefaultContext = 2048;

    /// <summary>Plain LlamaForCausalLM: tie_word_embeddings decides a tied head.</summary>
    public static readonly HfFamily Llama = new("LlamaForCausalLM", ModelFamily.Llama, "llama", ["tie_word_embeddings"],
        FullMha: false, FixedRopeTheta: null, SharedFfn: false, HasLayerSharing: false, DefaultRmsNormEps: 1e-6);
    /// <summary>modeling_mobilellm.py (facebook/MobileLLM-125M on the Hub): with share_embedding the logits are F.linear(h, embed_tokens.weight).</summary>
    public static readonly HfFamily MobileLlm = new("MobileLLMForCausalLM", ModelFamily.MobileLLM, "mobilellm", ["share_embedding", "tie_word_embeddings"],
        FullMha: false, FixedRopeTheta: null, SharedFfn: false, HasLayerSharing: true, DefaultRmsNormEps: null) { EmbeddingHeadFlag = "share_embedding" };
    /// <summary>MobiLlamaForCausalLM: full MHA whatever num_key_value_heads says, RoPE base 10000, one FFN for every block.</summary>
    public static readonly HfFamily MobiLlama = new("MobiLlamaForCausalLM", ModelFamily.MobiLlama, "llama", ["tie_word_embeddings"],
        FullMha: true, FixedRopeTheta: 10000f, SharedFfn: true, HasLayerSharing: false, DefaultRmsNormEps: null);

    /// <summary>Every supported family.</summary>
    public static IReadOnlyList<HfFamily> All { get; } = [Llama, MobileLlm, MobiLlama];

    /// <summary>The table row of <paramref name="family"/>.</summary>
    public static HfFamily For(ModelFamily family) => All.First(f => f.Family == family);

    /// <summary>Config keys only MobileLLM's code reads; on a LlamaForCausalLM config they mean the training repo wrote it.</summary>
    private static readonly string[] MobileLlmKeys = ["share_embedding", "layer_sharing"];

    /// <summary>Turns a parsed config.json into a <see cref="ModelConfig"/> by its family's rules; <paramref name="options"/> may override the family.</summary>
    public static HfResolvedConfig Resolve(HfConfigJson j, string path, HfImportOptions? options = null)
    {
        string supported = string.Join(", ", All.Select(f => f.Architecture));
        if (j.Architectures is not { Count: 1 } archs)
            throw new HfConfigException(j.Architectures is null ? HfConfigError.MissingField : HfConfigError.UnknownArchitecture, path, "architectures",
                j.Architectures is null ? "(absent)" : "[" + string.Join(", ", j.Architectures) + "]", $"must name exactly one of: {supported}");
        var declared = All.FirstOrDefault(f => f.Architecture == archs[0])
            ?? throw new HfConfigException(HfConfigError.UnknownArchitecture, path, "architectures", archs[0], $"unsupported architecture; supported: {supported}");
        if (j.ModelType is { } mt && mt != declared.ModelType)
            throw new HfConfigException(HfConfigError.ModelTypeMismatch, path, "model_type", mt, $"{declared.Architecture} checkpoints have model_type \"{declared.ModelType}\"");
        var notes = new List<string>();
        var family = ChooseFamily(j, path, declared, options?.Family, notes);

        if (j.HiddenAct is { } act && act != "silu")
            throw new HfConfigException(HfConfigError.Unsupported, path, "hidden_act", act, "only silu (SwiGLU) is supported");
        if (j.AttentionBias == true)
            throw new HfConfigException(HfConfigError.Unsupported, path, "attention_bias", "true", "attention biases are not supported");
        if (j.MlpBias == true)
            throw new HfConfigException(HfConfigError.Unsupported, path, "mlp_bias", "true", "MLP biases are not supported");
        if (j.RopeScaling is { } rs)
            throw new HfConfigException(HfConfigError.Unsupported, path, "rope_scaling", rs, "RoPE scaling is not supported");

        int vocab = Required(path, "vocab_size", j.VocabSize, MaxVocab);
        int hidden = Required(path, "hidden_size", j.HiddenSize, MaxHidden);
        int inter = Required(path, "intermediate_size", j.IntermediateSize, MaxIntermediate);
        int layers = Required(path, "num_hidden_layers", j.NumHiddenLayers, MaxLayers);
        int heads = Required(path, "num_attention_heads", j.NumAttentionHeads, MaxHeads);
        int? kvOnDisk = Optional(path, "num_key_value_heads", j.NumKeyValueHeads, MaxHeads);
        // MobiLlama's attention is full MHA whatever the config says (its released config says 4).
        int kv = family.FullMha ? heads : kvOnDisk ?? heads;
        if (family.FullMha && kvOnDisk is { } ignoredKv && ignoredKv != heads)
            notes.Add($"num_key_value_heads {ignoredKv} ignored: {family.Architecture} attention is full MHA ({heads} kv heads)");
        if (kv > heads || heads % kv != 0)
            throw new HfConfigException(HfConfigError.OutOfRange, path, "num_key_value_heads", kv.ToString(CultureInfo.InvariantCulture), $"must divide num_attention_heads ({heads})");
        int headDim = Optional(path, "head_dim", j.HeadDim, MaxHeadDim) ?? DefaultHeadDim(path, hidden, heads);
        int context = Optional(path, "max_position_embeddings", j.MaxPositionEmbeddings, MaxContext) ?? DefaultContext;

        double eps = j.RmsNormEps ?? family.DefaultRmsNormEps
            ?? throw new HfConfigException(HfConfigError.MissingField, path, "rms_norm_eps", "(absent)", $"required for {family.Architecture}");
        if (!(eps > 0 && eps < 1))
            throw new HfConfigException(HfConfigError.OutOfRange, path, "rms_norm_eps", eps.ToString("R", CultureInfo.InvariantCulture), "must be in (0, 1)");
        double theta = j.RopeTheta ?? DefaultRopeTheta;
        if (!(theta > 0 && theta <= MaxRopeTheta))
            throw new HfConfigException(HfConfigError.OutOfRange, path, "rope_theta", theta.ToString("R", CultureInfo.InvariantCulture), $"must be in (0, {MaxRopeTheta:R}]");
        float ropeTheta = family.FixedRopeTheta ?? (float)theta;
        if (family.FixedRopeTheta is { } fixedTheta && j.RopeTheta is { } statedTheta && statedTheta != fixedTheta)
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"rope_theta {statedTheta:R} ignored: {family.Architecture} hard-codes RoPE base {fixedTheta:R}"));
        // The LS model code turns its cache off because both passes of a block would write one slot;
        // the executor gives every executed step its own slot, so caching is correct here.
        if (j.UseCache == false)
            notes.Add("use_cache false ignored: every executed step has its own KV-cache slot, so caching is exact");

        bool layerSharing = family.HasLayerSharing && j.LayerSharing == true;
        string? tieFlag = family.TieFlags.FirstOrDefault(flag => flag switch
        {
            "share_embedding" => j.ShareEmbedding == true,
            "tie_word_embeddings" => j.TieWordEmbeddings == true,
            _ => false,
        });
        var config = new ModelConfig
        {
            Family = family.Family,
            Architecture = family.Architecture,
            VocabSize = vocab,
            HiddenSize = hidden,
            IntermediateSize = inter,
            NumHeads = heads,
            NumKvHeads = kv,
            HeadDim = headDim,
            StoredLayers = layers,
            ExecutedLayers = layerSharing ? 2 * layers : layers,
            RmsNormEps = (float)eps,
            RopeTheta = ropeTheta,
            ContextLength = context,
            TieClaimFlag = tieFlag,
            BosTokenId = CheckedId(path, "bos_token_id", j.BosTokenId, vocab),
            EosTokenId = CheckedId(path, "eos_token_id", j.EosTokenId, vocab),
        };
        bool headIsEmbedding = family.EmbeddingHeadFlag == "share_embedding" && j.ShareEmbedding == true;
        return new HfResolvedConfig(config, family, layerSharing, headIsEmbedding, notes);
    }

    /// <summary>
    /// The family whose rules apply: `--family` when given, else the declared architecture's. A
    /// LlamaForCausalLM config with MobileLLM's keys is what facebookresearch/MobileLLM's training
    /// code writes (it passes share_embedding and layer_sharing as flags, both true by default); read
    /// as a Llama it would run a different model (an untied head, no repeats), read as MobileLLM it
    /// would ignore what LlamaForCausalLM's code does: refuse to guess and ask.
    /// </summary>
    private static HfFamily ChooseFamily(HfConfigJson j, string path, HfFamily declared, ModelFamily? forced, List<string> notes)
    {
        string[] present = MobileLlmKeys.Where(k => k == "share_embedding" ? j.ShareEmbedding is not null : j.LayerSharing is not null).ToArray();
        if (forced is not { } f)
        {
            if (declared == Llama && present.Length > 0)
            {
                string key = present[0];
                bool? value = key == "share_embedding" ? j.ShareEmbedding : j.LayerSharing;
                throw new HfConfigException(HfConfigError.AmbiguousFamily, path, key, value == true ? "true" : "false",
                    $"LlamaForCausalLM does not read MobileLLM's {string.Join(" and ", present)}; pass --family mobilellm (honour them), llama (ignore them) or mobillama");
            }
            return declared;
        }
        var family = For(f);
        notes.Add(family == declared
            ? $"--family {family.FlagName}: {family.Architecture} rules, as config.json declares"
            : $"--family {family.FlagName}: read with {family.Architecture} rules although config.json declares {declared.Architecture}");
        if (family != MobileLlm && present.Length > 0)
            notes.Add($"{string.Join(", ", present)} ignored: {family.Architecture} does not read {(present.Length == 1 ? "it" : "them")}");
        return family;
    }

    private static int DefaultHeadDim(string path, int hidden, int heads)
    {
        if (hidden % heads != 0)
            throw new HfConfigException(HfConfigError.OutOfRange, path, "num_attention_heads", heads.ToString(CultureInfo.InvariantCulture),
                $"head_dim is absent and hidden_size ({hidden}) is not a multiple of the head count");
        return hidden / heads;
    }

    private static int Required(string path, string field, int? value, int cap) =>
        Optional(path, field, value, cap) ?? throw new HfConfigException(HfConfigError.MissingField, path, field, "(absent)", "required field");

    private static int? Optional(string path, string field, int? value, int cap)
    {
        if (value is not { } v) return null;
        if (v <= 0 || v > cap)
            throw new HfConfigException(HfConfigError.OutOfRange, path, field, v.ToString(CultureInfo.InvariantCulture), $"must be in [1, {cap}]");
        return v;
    }

    private static int? CheckedId(string path, string field, int? id, int vocab)
    {
        if (id is not { } v) return null;
        if (v < 0 || v >= vocab)
            throw new HfConfigException(HfConfigError.OutOfRange, path, field, v.ToString(CultureInfo.InvariantCulture), $"must be a token id in [0, {vocab})");
        return v;
    }
}
