using System.Globalization;
using MobileLlmConvert.Core.Ir;
using DataType = Onnx.TensorProto.Types.DataType;
using G = MobileLlmConvert.Formats.Onnx.OnnxGraphBuilder;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// The default profile: ONNX Runtime's contrib operators as ONNX Runtime GenAI's own exports use them
/// (onnxruntime docs/ContribOperators.md; onnxruntime-genai src/python/py/models/builder.py):
/// MatMulNBits for quantized matrices, GatherBlockQuantized for a quantized embedding,
/// GroupQueryAttention with the KV cache, SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization.
/// </summary>
internal sealed partial class GenAiProfile : IOnnxProfile
{
    /// <summary>The profile's name.</summary>
    public const string ProfileName = "genai";

    /// <summary>
    /// Head sizes ORT's CPU GroupQueryAttention rotates itself (do_rotary = 1); other sizes get RoPE in
    /// plain ops first (onnxruntime contrib_ops/cpu/bert/rotary_embedding: head_size % 16 == 0).
    /// </summary>
    public const int InOpRotaryMultiple = 16;

    /// <summary>
    /// MatMulNBits accuracy_level: 0 leaves the activations in float (docs/ContribOperators.md), so ORT
    /// computes with exactly the stored weights and only float rounding differs. Level 4 (int8
    /// activations) would run ORT's x86 8-bit kernel instead of dequantizing a q8 matrix on every run
    /// (matmul_nbits.cc, ComputeBUnpacked), but differs from our int8 fast path by percents, not 1e-3:
    /// formats/onnx.md, "Speed on ONNX Runtime's CPU provider".
    /// </summary>
    public const int AccuracyLevel = 0;

    /// <inheritdoc />
    public string Name => ProfileName;

    /// <inheritdoc />
    public string Embedding(G g, OnnxModelContext ctx, Tensor table)
    {
        var w = g.Weight(table, Encode);
        if (!table.Type.Info().IsQuantized)
            return ToFloat(g, g.Op("Gather", [w.Name, ctx.InputIds], G.Int("axis", 0)), table.Type);
        // GatherBlockQuantized reads MatMulNBits' packing (uint8, low nibble first, default zero point
        // 8 or 128) as a 2-D [rows, K*bits/8] table: a Reshape of the one initializer the head may share.
        var q = QuantLayout.Of(table.Type, table.Shape);
        string data = g.Shared("reshape2d/" + w.Name, () => g.Op("Reshape", [w.Name, g.Int64s($"shape/{q.N}x{q.KBlocks * q.BlobBytes}", [2], q.N, q.KBlocks * q.BlobBytes)]));
        var inputs = new List<string> { data, ctx.InputIds, w.Name + OnnxWeight.ScalesSuffix };
        if (q.Asymmetric) inputs.Add(w.Name + OnnxWeight.ZeroPointsSuffix);
        return g.Node("GatherBlockQuantized", G.MicrosoftDomain, inputs, 1,
            G.Int("gather_axis", 0), G.Int("quantize_axis", 1), G.Int("block_size", q.Group), G.Int("bits", q.Bits))[0];
    }

    /// <inheritdoc />
    public string RmsNorm(G g, string x, Tensor weight, float eps) =>
        // SimplifiedLayerNormalization is registered by ORT in the ai.onnx domain (contrib_defs.cc).
        g.Op("SimplifiedLayerNormalization", [x, NormWeight(g, weight)], G.Int("axis", -1), G.Float("epsilon", eps), G.Int("stash_type", 1));

    /// <inheritdoc />
    public (string Sum, string Normed) AddRmsNorm(G g, string residual, string delta, Tensor weight, float eps)
    {
        // Outputs: output, mean, inv_std_var, input_skip_bias_sum; the middle two are not asked for.
        var o = g.Node("SkipSimplifiedLayerNormalization", G.MicrosoftDomain, [residual, delta, NormWeight(g, weight)], [true, false, false, true],
            G.Float("epsilon", eps));
        return (o[3], o[0]);
    }

    /// <inheritdoc />
    public string Linear(G g, string x, Tensor weight)
    {
        var w = g.Weight(weight, Encode);
        if (!weight.Type.Info().IsQuantized)
        {
            // MatMul wants B as [in, out]: one Cast + Transpose per stored tensor (ORT folds them at load),
            // so the file keeps the IR's [out, in] bytes and a tied head shares the embedding's initializer.
            string wt = g.Shared("transpose/" + w.Name, () => g.Op("Transpose", [ToFloat(g, w.Name, weight.Type)], G.Ints("perm", 1, 0)));
            return g.Op("MatMul", [x, wt]);
        }
        var q = QuantLayout.Of(weight.Type, weight.Shape);
        var inputs = new List<string> { x, w.Name, w.Name + OnnxWeight.ScalesSuffix };
        if (q.Asymmetric) inputs.Add(w.Name + OnnxWeight.ZeroPointsSuffix);
        return g.Node("MatMulNBits", G.MicrosoftDomain, inputs, 1,
            G.Int("K", q.KBlocks * q.Group), G.Int("N", q.N), G.Int("bits", q.Bits), G.Int("block_size", q.Group), G.Int("accuracy_level", AccuracyLevel))[0];
    }

    /// <inheritdoc />
    public OnnxAttentionResult Attention(G g, OnnxModelContext ctx, string q, string k, string v, OnnxPastKv past)
    {
        var c = ctx.Config;
        bool inOp = c.HeadDim % InOpRotaryMultiple == 0;
        var (cos, sin) = RotaryCaches(g, c);
        if (!inOp)
        {
            q = Rotate(g, ctx, q, c.NumHeads, cos, sin);
            k = Rotate(g, ctx, k, c.NumKvHeads, cos, sin);
        }
        // seqlens_k = (sum of the mask) - 1 and total_sequence_length = mask width, both int32, as
        // GroupQueryAttention takes them (docs/ContribOperators.md); made once per graph.
        string seqlens = g.Shared("seqlens_k", () => g.Op("Cast",
            [g.Op("Sub", [g.Op("ReduceSum", [ctx.AttentionMask, g.Int64s("axes/1", [1], 1)], G.Int("keepdims", 0)), g.Int64s("one", [], 1)])],
            G.Int("to", (long)DataType.Int32)));
        string total = g.Shared("total_sequence_length", () => g.Op("Cast",
            [g.Op("Gather", [g.Op("Shape", [ctx.AttentionMask]), g.Int64s("index/1", [], 1)], G.Int("axis", 0))], G.Int("to", (long)DataType.Int32)));
        var o = g.Node("GroupQueryAttention", G.MicrosoftDomain,
            [q, k, v, past.Key, past.Value, seqlens, total, inOp ? cos : "", inOp ? sin : ""], 3,
            G.Int("num_heads", c.NumHeads), G.Int("kv_num_heads", c.NumKvHeads), G.Float("scale", 1f / MathF.Sqrt(c.HeadDim)),
            G.Int("do_rotary", inOp ? 1 : 0), G.Int("rotary_interleaved", 0), G.Int("local_window_size", -1));
        return new OnnxAttentionResult(o[0], o[1], o[2]);
    }

    /// <summary>
    /// cos/sin caches [context, head_dim/2] in Hugging Face's rotate_half convention (transformers
    /// modeling_llama.py): angle = pos * theta^(-2i/hd), computed in double like our executor's Rope.
    /// </summary>
    internal static (string Cos, string Sin) RotaryCaches(G g, ModelConfig c)
    {
        int half = c.HeadDim / 2;
        string key = string.Create(CultureInfo.InvariantCulture, $"rotary/{c.ContextLength}x{half}");
        string Make(bool isCos)
        {
            var values = new float[checked(c.ContextLength * half)];
            for (int i = 0; i < half; i++)
            {
                double invFreq = Math.Pow(c.RopeTheta, -2.0 * i / c.HeadDim);
                for (int pos = 0; pos < c.ContextLength; pos++)
                {
                    double angle = pos * invFreq;
                    values[pos * half + i] = (float)(isCos ? Math.Cos(angle) : Math.Sin(angle));
                }
            }
            return g.Floats(key + (isCos ? "/cos" : "/sin"), [c.ContextLength, half], values);
        }
        return (Make(true), Make(false));
    }

    /// <summary>
    /// RoPE in standard ops for head sizes GroupQueryAttention cannot rotate: per head, halves x1, x2
    /// become x1 cos - x2 sin and x2 cos + x1 sin at the token's position_ids.
    /// </summary>
    private static string Rotate(G g, OnnxModelContext ctx, string x, int heads, string cosCache, string sinCache)
    {
        int hd = ctx.Config.HeadDim, half = hd / 2;
        // [batch, seq, half] -> [batch, seq, 1, half], broadcast over heads; made once per graph.
        string cos = g.Shared("rope/cos", () => g.Op("Unsqueeze", [g.Op("Gather", [cosCache, ctx.PositionIds], G.Int("axis", 0)), g.Int64s("axes/2", [1], 2)]));
        string sin = g.Shared("rope/sin", () => g.Op("Unsqueeze", [g.Op("Gather", [sinCache, ctx.PositionIds], G.Int("axis", 0)), g.Int64s("axes/2", [1], 2)]));
        string heads4 = g.Op("Reshape", [x, g.Int64s($"shape/0x0x{heads}x{hd}", [4], 0, 0, heads, hd)]);
        string axes = g.Int64s("axes/-1", [1], -1);
        string x1 = g.Op("Slice", [heads4, g.Int64s("starts/0", [1], 0), g.Int64s($"ends/{half}", [1], half), axes]);
        string x2 = g.Op("Slice", [heads4, g.Int64s($"starts/{half}", [1], half), g.Int64s($"ends/{hd}", [1], hd), axes]);
        string r1 = g.Op("Sub", [g.Op("Mul", [x1, cos]), g.Op("Mul", [x2, sin])]);
        string r2 = g.Op("Add", [g.Op("Mul", [x2, cos]), g.Op("Mul", [x1, sin])]);
        string rotated = g.Op("Concat", [r1, r2], G.Int("axis", -1));
        return g.Op("Reshape", [rotated, g.Int64s($"shape/0x0x{heads * hd}", [3], 0, 0, heads * hd)]);
    }

    private string NormWeight(G g, Tensor weight)
    {
        var w = g.Weight(weight, Encode);
        return weight.Type == ElementType.F32 ? w.Name : g.Shared("float/" + w.Name, () => ToFloat(g, w.Name, weight.Type));
    }

    private static string ToFloat(G g, string value, ElementType type) =>
        type == ElementType.F32 ? value : g.Op("Cast", [value], G.Int("to", (long)DataType.Float));
}
