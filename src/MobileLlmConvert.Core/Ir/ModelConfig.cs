namespace MobileLlmConvert.Core.Ir;

/// <summary>The model families the importers recognize; each has its own config quirks.</summary>
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
    /// <summary>The family whose rules resolved this configuration.</summary>
    public required ModelFamily Family { get; init; }
    /// <summary>The checkpoint's architecture string, e.g. "MobileLLMForCausalLM".</summary>
    public required string Architecture { get; init; }
    /// <summary>Number of token ids (rows of the embedding and of the head).</summary>
    public required int VocabSize { get; init; }
    /// <summary>Width of the residual stream (the embedding dimension).</summary>
    public required int HiddenSize { get; init; }
    /// <summary>Width of the SwiGLU FFN's hidden layer.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>Query heads per layer.</summary>
    public required int NumHeads { get; init; }
    /// <summary>Key/value heads per layer (fewer than <see cref="NumHeads"/> with grouped-query attention).</summary>
    public required int NumKvHeads { get; init; }
    /// <summary>Width of one attention head.</summary>
    public required int HeadDim { get; init; }
    /// <summary>Transformer blocks stored in the checkpoint.</summary>
    public required int StoredLayers { get; init; }
    /// <summary>Layer steps executed per token (2x stored for MobileLLM-LS).</summary>
    public required int ExecutedLayers { get; init; }
    /// <summary>Epsilon of every RMSNorm.</summary>
    public required float RmsNormEps { get; init; }
    /// <summary>RoPE base frequency.</summary>
    public required float RopeTheta { get; init; }
    /// <summary>Longest sequence the model was trained for (max_position_embeddings).</summary>
    public required int ContextLength { get; init; }
    /// <summary>
    /// The config flag that claims a tied head ("share_embedding", "tie_word_embeddings"), or null.
    /// A claim only: tying is decided by bytes (DESIGN.md).
    /// </summary>
    public string? TieClaimFlag { get; init; }
    /// <summary>Beginning-of-sequence id from the checkpoint's config, when it names one.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence id from the checkpoint's config, when it names one.</summary>
    public int? EosTokenId { get; init; }

    /// <summary>Width of the q projection's output: NumHeads x HeadDim.</summary>
    public int QueryWidth => NumHeads * HeadDim;
    /// <summary>Width of the k and v projections' outputs: NumKvHeads x HeadDim.</summary>
    public int KvWidth => NumKvHeads * HeadDim;
    /// <summary>Query heads per key/value head.</summary>
    public int KvGroup => NumHeads / NumKvHeads;
}
