namespace MobileLlmConvert.Runtime;

/// <summary>How quantized matrices are multiplied (float matrices ignore it).</summary>
public enum QuantPath
{
    /// <summary>
    /// f32 activations times dequantized blocks: the verification path. One token uses QuantOps.DotExact;
    /// a batch dequantizes a tile of rows once into scratch and reuses it for every token (same math,
    /// f32 summation order aside), which also makes it the faster path for long prefills.
    /// </summary>
    Exact,
    /// <summary>
    /// Activations quantized to int8 once per matrix multiply, then integer dot products against the
    /// packed blocks (QuantOps.DotFast), as llama.cpp and ONNX Runtime's accuracy level 4 do.
    /// </summary>
    Fast,
}

/// <summary>Options of a <see cref="Transformer"/>. Every buffer is sized from these once, at construction.</summary>
public sealed record ExecutorOptions
{
    /// <summary>
    /// Default cap on the KV cache when <see cref="MaxContext"/> is not given: a config may claim a
    /// 128k context, and the cache is allocated up front (layers x context x kv width x 8 bytes).
    /// </summary>
    public const int DefaultContextCap = 4096;

    /// <summary>Threads that split each matrix multiply (1 = everything runs inline on the caller).</summary>
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>KV-cache positions; null = the config's context length, capped at <see cref="DefaultContextCap"/>.</summary>
    public int? MaxContext { get; init; }

    /// <summary>
    /// Tokens pushed through each matrix multiply together in prefill. Longer inputs are processed in
    /// chunks of this size; activation buffers scale with it.
    /// </summary>
    public int MaxBatch { get; init; } = 64;

    /// <summary>
    /// The path when none is asked for, in the library and in the CLI's logits and verify: exact is the
    /// verification-grade result, and with the tile reuse above it was also the faster path for prefill
    /// on MobileLLM-125M (Q8_0 and Q4_0) and for Q4_0 decode when measured.
    /// </summary>
    public const QuantPath DefaultQuantPath = QuantPath.Exact;

    /// <summary>
    /// The path of the CLI's generate and bench when none is asked for: integer dots, as llama.cpp
    /// computes, for speed where bit-level agreement with the source is not the point.
    /// </summary>
    public const QuantPath GenerationQuantPath = QuantPath.Fast;

    /// <summary>How quantized matrices are multiplied (<see cref="DefaultQuantPath"/> unless set).</summary>
    public QuantPath QuantPath { get; init; } = DefaultQuantPath;
}
