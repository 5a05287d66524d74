using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>The graph-wide values every profile may use: the config and the names of the model inputs.</summary>
/// <param name="Config">The model's resolved config.</param>
/// <param name="InputIds">input_ids, int64 [batch, seq].</param>
/// <param name="AttentionMask">attention_mask, int64 [batch, total] (past + current tokens; 1 = attend).</param>
/// <param name="PositionIds">position_ids, int64 [batch, seq].</param>
internal sealed record OnnxModelContext(ModelConfig Config, string InputIds, string AttentionMask, string PositionIds);

/// <summary>One executed step's cache inputs: past_key_values.{i}.key|value, float [batch, kv_heads, past, head_dim].</summary>
internal sealed record OnnxPastKv(string Key, string Value);

/// <summary>
/// What an attention block produced: the attention output [batch, seq, heads x head_dim] (before the o
/// projection) and the present key/value [batch, kv_heads, total, head_dim] as node outputs (the layer loop
/// renames them to the graph outputs present.{i}.key|value).
/// </summary>
internal sealed record OnnxAttentionResult(string Output, string PresentKey, string PresentValue);

/// <summary>Reads an initializer's stored raw bytes by name (the reader supplies it from model.onnx.data).</summary>
internal delegate ReadOnlySpan<byte> OnnxInitializerBytes(string name);

/// <summary>
/// How one ONNX profile expresses the pieces of a Llama decoder. The layer loop (<see cref="OnnxGraph"/>)
/// is the same for every profile; a profile only appends the nodes of each piece and owns both
/// directions of its weight encoding (<see cref="Encode"/> to write, <see cref="Decode"/> to read back).
/// Every value is float32 [batch, seq, width] between pieces.
/// </summary>
internal interface IOnnxProfile
{
    /// <summary>The profile's name on the command line and in metadata (`mlconvert.profile`): "genai", "standard".</summary>
    string Name { get; }

    /// <summary>Why this profile cannot store a tensor of <paramref name="type"/>, or null when it can.</summary>
    string? CannotStore(ElementType type);

    /// <summary>
    /// The initializers that store <paramref name="tensor"/> under base name <paramref name="name"/>
    /// (base first, then companions named name + <see cref="OnnxWeight.ScalesSuffix"/> / <see cref="OnnxWeight.ZeroPointsSuffix"/>).
    /// Depends on the tensor's type and shape only, never on its use, so a shared tensor has one encoding.
    /// </summary>
    IReadOnlyList<OnnxInitializer> Encode(Tensor tensor, string name);

    /// <summary>
    /// The inverse of <see cref="Encode"/>: writes the IR bytes of a tensor of <paramref name="type"/> and
    /// <paramref name="shape"/> stored under <paramref name="name"/> into <paramref name="destination"/>
    /// (exactly <c>type.ByteSize(shape)</c> bytes). The caller has checked every initializer's header
    /// against what <see cref="Encode"/> declares for that type and shape.
    /// </summary>
    void Decode(string name, ElementType type, long[] shape, OnnxInitializerBytes initializers, Span<byte> destination);

    /// <summary>Token embedding lookup: ids int64 [batch, seq] to [batch, seq, hidden].</summary>
    string Embedding(OnnxGraphBuilder g, OnnxModelContext ctx, Tensor table);

    /// <summary>RMSNorm of <paramref name="x"/> with <paramref name="weight"/> and <paramref name="eps"/>.</summary>
    string RmsNorm(OnnxGraphBuilder g, string x, Tensor weight, float eps);

    /// <summary>The residual update then RMSNorm: Sum = residual + delta, Normed = RmsNorm(Sum).</summary>
    (string Sum, string Normed) AddRmsNorm(OnnxGraphBuilder g, string residual, string delta, Tensor weight, float eps);

    /// <summary>y = x W^T for an IR matrix W [out, in]: [batch, seq, in] to [batch, seq, out].</summary>
    string Linear(OnnxGraphBuilder g, string x, Tensor weight);

    /// <summary>
    /// Causal self-attention with RoPE (rotate_half) and grouped KV heads for one executed step: q
    /// [batch, seq, heads x hd], k and v [batch, seq, kv_heads x hd] straight from the projections, the
    /// step's past cache; returns the output before the o projection and the present cache.
    /// </summary>
    OnnxAttentionResult Attention(OnnxGraphBuilder g, OnnxModelContext ctx, string q, string k, string v, OnnxPastKv past);
}
