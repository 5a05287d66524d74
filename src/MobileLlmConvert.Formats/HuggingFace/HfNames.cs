namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>Hugging Face Llama-layout tensor and file names (transformers src/transformers/models/llama/modeling_llama.py), in one place.</summary>
public static class HfNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string Head = "lm_head.weight";
    /// <summary>Rotary buffers older transformers saved; derived from the config, so skipping them loses nothing.</summary>
    public const string InvFreqSuffix = ".self_attn.rotary_emb.inv_freq";

    public const string ConfigFile = "config.json";
    public const string SingleWeightsFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";
    public const string TokenizerModelFile = "tokenizer.model";
    public const string TokenizerJsonFile = "tokenizer.json";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    /// <summary>torch.save zip (formats/torch.md); transformers' WEIGHTS_NAME.</summary>
    public const string PickleWeightsFile = "pytorch_model.bin";
    /// <summary>The index of sharded pytorch_model-0000N-of-0000M.bin files; same schema as the safetensors index.</summary>
    public const string PickleIndexFile = "pytorch_model.bin.index.json";

    public static string Layer(int i, string suffix) => $"model.layers.{i}.{suffix}";
    public static string AttnNorm(int i) => Layer(i, "input_layernorm.weight");
    public static string Q(int i) => Layer(i, "self_attn.q_proj.weight");
    public static string K(int i) => Layer(i, "self_attn.k_proj.weight");
    public static string V(int i) => Layer(i, "self_attn.v_proj.weight");
    public static string O(int i) => Layer(i, "self_attn.o_proj.weight");
    public static string FfnNorm(int i) => Layer(i, "post_attention_layernorm.weight");
    public static string Gate(int i) => Layer(i, "mlp.gate_proj.weight");
    public static string Up(int i) => Layer(i, "mlp.up_proj.weight");
    public static string Down(int i) => Layer(i, "mlp.down_proj.weight");

    public static string ShardFile(int index, int count) => $"model-{index + 1:D5}-of-{count:D5}.safetensors";
}
