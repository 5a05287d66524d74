namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// Hugging Face checkpoint file names (transformers' utils/constants: CONFIG_NAME, SAFE_WEIGHTS_NAME,
/// SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, ...). Tensor names are a column of <see cref="TensorNames"/>.
/// </summary>
public static class HfNames
{
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

    public static string ShardFile(int index, int count) => $"model-{index + 1:D5}-of-{count:D5}.safetensors";
}
