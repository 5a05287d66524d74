namespace MobileLlmConvert.Core.Ir;

public enum ModelFamily
{
    /// <summary>LlamaForCausalLM (SmolLM, TinyLlama, ...).</summary>
    Llama,
    /// <summary>Meta's MobileLLM (MobileLLMForCausalLM), including layer-shared -LS models.</summary>
    MobileLLM,
    /// <summary>MBZUAI's MobiLlama (MobiLlamaForCausalLM): one FFN shared by every block.</summary>
    MobiLlama,
}

/// <summary>
/// The resolved, validated configuration. Only importers see a checkpoint's own config format;
/// passes, emitters and the executor see this.
/// </summary>
public sealed record ModelConfig
{
    public required ModelFamily Family { get; init; }
    /// <summary>The checkpoint's architecture string, e.g. "MobileLLMForCausalLM".</summary>
    public required string Architecture { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    /// <summary>Transformer blocks stored in the checkpoint.</summary>
    public required int StoredLayers { get; init; }
    /// <summary>Layer steps executed per token (2x stored for MobileLLM-LS).</summary>
    public required int ExecutedLayers { get; init; }
    public required float RmsNormEps { get; init; }
    public required float RopeTheta { get; init; }
    public required int ContextLength { get; init; }
    /// <summary>
    /// The config flag that claims a tied head ("share_embedding", "tie_word_embeddings"), or null.
    /// A claim only: tying is decided by bytes (DESIGN.md).
    /// </summary>
    public string? TieClaimFlag { get; init; }
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }

    public int QueryWidth => NumHeads * HeadDim;
    public int KvWidth => NumKvHeads * HeadDim;
    public int KvGroup => NumHeads / NumKvHeads;
}
