using System.Globalization;
using MobileLlmConvert.Core.Ir;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MobileLlmConvert.Formats.Onnx.Standard;

/// <summary>
/// The <c>standard</c> profile: the Llama block in ai.onnx operators only (opset 21,
/// <see cref="OnnxWriter.StandardOpset"/>: blockwise DequantizeLinear and int4 need it), for runtimes
/// without com.microsoft contrib ops. Every operator and attribute below is specified in ONNX's
/// docs/Operators.md; the math is Hugging Face's LlamaForCausalLM (transformers
/// models/llama/modeling_llama.py): RMSNorm, rotate_half RoPE, grouped-query causal attention, SwiGLU.
/// <list type="bullet">
/// <item>Weights: <see cref="StandardWeights"/> (stored [in, out]); a quantized weight is
/// <c>DequantizeLinear(codes, Cast(scales), axis=0, block_size=g)</c> then <c>MatMul</c>. One
/// DequantizeLinear per use: shared weights stay one initializer, and no dequantized matrix has to live
/// from its first use to its last. ONNX Runtime (1.31) fuses each DequantizeLinear + MatMul pair into its
/// MatMulNBits kernel; by default that kernel rounds activations to int8 (session option
/// session.qdq_matmulnbits_accuracy_level = 4), which moves logits by about 2% relative: set it to 0
/// for f32 activations (formats/onnx.md, "Profile standard").</item>
/// <item>Q4_1's min: x·W with W[k,n] = q·d + m[k/g, n] is x·(q·d) + s·m where s[b] = Σ_{k in block b} x[k]
/// (ReduceSum over each group): exact algebra, only float rounding differs from a dequantized matrix.</item>
/// <item>RMSNorm: x · Reciprocal(Sqrt(ReduceMean(x·x) + eps)) · w.</item>
/// <item>RoPE: cos/sin of position_ids · inv_freq (inv_freq[i] = theta^(-2i/hd) computed in double),
/// computed once per graph; rotate_half by Split/Concat.</item>
/// <item>Attention: q reshaped to [B, kv, group, S, hd] against K/V [B, kv, 1, T, hd]: MatMul's
/// numpy broadcasting repeats each KV head for its group (the same pairing as HF's repeat_kv: query head
/// h reads KV head h / group) without materializing the repeat. Mask = causal (key position &lt;= query
/// position, query positions past..T-1) AND attention_mask, as an additive float.MinValue bias.</item>
/// <item>KV cache: present = Concat(past, new) on the sequence axis, [B, kv, T, hd].</item>
/// </list>
/// </summary>
internal sealed class StandardProfile : IOnnxProfile
{
    /// <summary>The one instance: the profile holds no state (per-graph values live in the builder's Shared).</summary>
    public static readonly StandardProfile Instance = new();

    /// <inheritdoc />
    public string Name => "standard";

    /// <inheritdoc />
    public string? CannotStore(ElementType type) => StandardWeights.CannotStore(type);

    /// <inheritdoc />
    public IReadOnlyList<OnnxInitializer> Encode(Tensor tensor, string name) => StandardWeights.Encode(tensor, name);

    /// <inheritdoc />
    public void Decode(string name, ElementType type, long[] shape, OnnxInitializerBytes initializers, Span<byte> destination)
    {
        var info = type.Info();
        bool matrix = shape.Length == 2 && info.IsQuantized;
        StandardWeights.Decode(type, shape, initializers(name),
            matrix ? initializers(name + OnnxWeight.ScalesSuffix) : [],
            matrix && info.Kind == QuantKind.Int4Asymmetric ? initializers(name + StandardWeights.MinsSuffix) : [],
            destination);
    }

    /// <inheritdoc />
    public string Embedding(OnnxGraphBuilder g, OnnxModelContext ctx, Tensor table)
    {
        // The table is stored [hidden, vocab] (the head's layout, so a tied head is the same initializer):
        // Gather along axis 1 gives [hidden, B, S].
        var cols = g.Op("Gather", [DequantizedMatrix(g, table), ctx.InputIds], OnnxGraphBuilder.Int("axis", 1));
        return g.Op("Transpose", [cols], OnnxGraphBuilder.Ints("perm", 1, 2, 0));
    }

    /// <inheritdoc />
    public string RmsNorm(OnnxGraphBuilder g, string x, Tensor weight, float eps)
    {
        var sq = g.Op("Mul", [x, x]);
        var mean = g.Op("ReduceMean", [sq, AxesLast(g)], OnnxGraphBuilder.Int("keepdims", 1));
        string epsKey = "rms_eps_" + BitConverter.SingleToInt32Bits(eps).ToString("x8", CultureInfo.InvariantCulture);
        var sum = g.Op("Add", [mean, g.Floats(epsKey, [], eps)]);
        var inv = g.Op("Reciprocal", [g.Op("Sqrt", [sum])]);
        return g.Op("Mul", [g.Op("Mul", [x, inv]), FloatValue(g, weight)]);
    }

    /// <inheritdoc />
    public (string Sum, string Normed) AddRmsNorm(OnnxGraphBuilder g, string residual, string delta, Tensor weight, float eps)
    {
        var sum = g.Op("Add", [residual, delta]);
        return (sum, RmsNorm(g, sum, weight, eps));
    }

    /// <inheritdoc />
    public string Linear(OnnxGraphBuilder g, string x, Tensor weight)
    {
        var info = weight.Type.Info();
        if (!info.IsQuantized) return g.Op("MatMul", [x, FloatValue(g, weight)]);
        var y = g.Op("MatMul", [x, Dequantize(g, weight)]);
        if (info.Kind != QuantKind.Int4Asymmetric) return y;
        // + s·m: s = per-group sums of x [B, S, in/g], m = the mins [in/g, out].
        long groups = weight.Columns / info.BlockValues;
        var grouped = g.Op("Reshape", [x, g.Int64s($"shape_groups_{groups}x{info.BlockValues}", [4], 0, 0, groups, info.BlockValues)]);
        var sums = g.Op("ReduceSum", [grouped, AxesLast(g)], OnnxGraphBuilder.Int("keepdims", 0));
        return g.Op("Add", [y, g.Op("MatMul", [sums, Mins(g, weight)])]);
    }

    /// <inheritdoc />
    public OnnxAttentionResult Attention(OnnxGraphBuilder g, OnnxModelContext ctx, string q, string k, string v, OnnxPastKv past)
    {
        var c = ctx.Config;
        int nh = c.NumHeads, kv = c.NumKvHeads, hd = c.HeadDim, group = nh / kv;
        var (cos, sin) = Rope(g, ctx);
        var qh = RotateHalf(g, Heads(g, q, nh, hd), cos, sin, hd);
        var kh = RotateHalf(g, Heads(g, k, kv, hd), cos, sin, hd);
        var vh = Heads(g, v, kv, hd);
        var presentK = g.Op("Concat", [past.Key, kh], OnnxGraphBuilder.Int("axis", 2));
        var presentV = g.Op("Concat", [past.Value, vh], OnnxGraphBuilder.Int("axis", 2));

        // [B, nh, S, hd] -> [B, kv, group, S, hd]; K, V [B, kv, T, hd] -> [B, kv, 1, T, hd].
        var q5 = g.Op("Reshape", [qh, g.Int64s($"shape_q5_{kv}x{group}x{hd}", [5], 0, kv, group, -1, hd)]);
        var axis2 = g.Int64s("axes_2", [1], 2);
        var k5 = g.Op("Unsqueeze", [presentK, axis2]);
        var v5 = g.Op("Unsqueeze", [presentV, axis2]);
        var kT = g.Op("Transpose", [k5], OnnxGraphBuilder.Ints("perm", 0, 1, 2, 4, 3));
        var scores = g.Op("MatMul", [q5, kT]);
        var scaled = g.Op("Mul", [scores, g.Floats($"attn_scale_{hd}", [], (float)(1.0 / Math.Sqrt(hd)))]);
        var probs = g.Op("Softmax", [g.Op("Add", [scaled, Mask(g, ctx)])], OnnxGraphBuilder.Int("axis", -1));
        var context = g.Op("MatMul", [probs, v5]);                                       // [B, kv, group, S, hd]
        var merged = g.Op("Reshape", [context, g.Int64s($"shape_heads_{nh}x{hd}", [4], 0, nh, -1, hd)]);
        var bshd = g.Op("Transpose", [merged], OnnxGraphBuilder.Ints("perm", 0, 2, 1, 3));
        var output = g.Op("Reshape", [bshd, g.Int64s($"shape_width_{nh * hd}", [3], 0, 0, nh * hd)]);
        return new OnnxAttentionResult(output, presentK, presentV);
    }

    private static string AxesLast(OnnxGraphBuilder g) => g.Int64s("axes_last", [1], -1);

    // [B, S, heads·hd] -> [B, heads, S, hd].
    private static string Heads(OnnxGraphBuilder g, string x, int heads, int hd)
    {
        var split = g.Op("Reshape", [x, g.Int64s($"shape_split_{heads}x{hd}", [4], 0, 0, heads, hd)]);
        return g.Op("Transpose", [split], OnnxGraphBuilder.Ints("perm", 0, 2, 1, 3));
    }

    // HF rotate_half: out = x·cos + concat(-x2, x1)·sin, with x1 = x[..., :hd/2], x2 = x[..., hd/2:].
    private static string RotateHalf(OnnxGraphBuilder g, string x, string cos, string sin, int hd)
    {
        int half = hd / 2;
        var parts = g.Node("Split", OnnxGraphBuilder.StandardDomain, [x, g.Int64s($"split_halves_{half}", [2], half, half)], 2, OnnxGraphBuilder.Int("axis", -1));
        var a = g.Op("Sub", [g.Op("Mul", [parts[0], cos]), g.Op("Mul", [parts[1], sin])]);
        var b = g.Op("Add", [g.Op("Mul", [parts[1], cos]), g.Op("Mul", [parts[0], sin])]);
        return g.Op("Concat", [a, b], OnnxGraphBuilder.Int("axis", -1));
    }

    // cos/sin [B, 1, S, hd/2] of position_ids · inv_freq, once per graph.
    private static (string Cos, string Sin) Rope(OnnxGraphBuilder g, OnnxModelContext ctx)
    {
        var c = ctx.Config;
        var angles = g.Shared("standard/rope_angles", () =>
        {
            int half = c.HeadDim / 2;
            var invFreq = new float[half];
            for (int i = 0; i < half; i++) invFreq[i] = (float)Math.Pow(c.RopeTheta, -2.0 * i / c.HeadDim);
            var positions = g.Op("Cast", [ctx.PositionIds], OnnxGraphBuilder.Int("to", (long)DataType.Float));
            var perPosition = g.Op("Mul", [g.Op("Unsqueeze", [positions, AxesLast(g)]), g.Floats("rope_inv_freq", [half], invFreq)]);
            return g.Op("Unsqueeze", [perPosition, g.Int64s("axes_1", [1], 1)]);
        });
        return (g.Shared("standard/rope_cos", () => g.Op("Cos", [angles])), g.Shared("standard/rope_sin", () => g.Op("Sin", [angles])));
    }

    // Additive bias [B, 1, 1, S, T]: 0 where key j is visible to query i, float.MinValue elsewhere. Query
    // i sits at position past + i (past = T - S); key j is visible when j <= past + i and attention_mask[b, j] = 1.
    private static string Mask(OnnxGraphBuilder g, OnnxModelContext ctx) => g.Shared("standard/mask", () =>
    {
        var axis0 = g.Int64s("axes_0", [1], 0);
        var total = g.Op("Squeeze", [g.Op("Shape", [ctx.AttentionMask], OnnxGraphBuilder.Int("start", 1), OnnxGraphBuilder.Int("end", 2)), axis0]);
        var seq = g.Op("Squeeze", [g.Op("Shape", [ctx.InputIds], OnnxGraphBuilder.Int("start", 1), OnnxGraphBuilder.Int("end", 2)), axis0]);
        var past = g.Op("Sub", [total, seq]);
        var one = g.Int64s("one", [], 1);
        var keys = g.Op("Range", [g.Int64s("zero", [], 0), total, one]);                        // [T]
        var queries = g.Op("Unsqueeze", [g.Op("Range", [past, total, one]), AxesLast(g)]);      // [S, 1]
        var causal = g.Op("LessOrEqual", [keys, queries]);                                    // [S, T]
        var attend = g.Op("Cast", [ctx.AttentionMask], OnnxGraphBuilder.Int("to", (long)DataType.Bool));
        var padded = g.Op("Unsqueeze", [attend, g.Int64s("axes_1_2_3", [3], 1, 2, 3)]);       // [B, 1, 1, 1, T]
        var visible = g.Op("And", [causal, padded]);                                          // [B, 1, 1, S, T]
        return g.Op("Where", [visible, g.Floats("mask_open", [], 0f), g.Floats("mask_closed", [], float.MinValue)]);
    });

    private static string WeightName(OnnxGraphBuilder g, Tensor t) => g.Weight(t, StandardWeights.Encode).Name;

    // A float weight as f32: f16/bf16 initializers through one Cast (constant-folded by runtimes).
    private static string FloatValue(OnnxGraphBuilder g, Tensor t)
    {
        var name = WeightName(g, t);
        return t.Type == ElementType.F32 ? name : g.Op("Cast", [name], OnnxGraphBuilder.Int("to", (long)DataType.Float));
    }

    // The f32 matrix [in, out] of any stored weight (the embedding gathers from it).
    private static string DequantizedMatrix(OnnxGraphBuilder g, Tensor t)
    {
        var info = t.Type.Info();
        if (!info.IsQuantized) return FloatValue(g, t);
        var w = Dequantize(g, t);
        if (info.Kind != QuantKind.Int4Asymmetric) return w;
        long groups = t.Columns / info.BlockValues;
        var spread = g.Op("Expand", [g.Op("Unsqueeze", [Mins(g, t), g.Int64s("axes_1", [1], 1)]),
            g.Int64s($"shape_mins_{groups}x{info.BlockValues}x{t.Rows}", [3], groups, info.BlockValues, t.Rows)]);
        var mins = g.Op("Reshape", [spread, g.Int64s($"shape_matrix_{t.Columns}x{t.Rows}", [2], t.Columns, t.Rows)]);
        return g.Op("Add", [w, mins]);
    }

    // DequantizeLinear(codes, f32 scales) along axis 0 in blocks of g: (q - 0)·d as f32 [in, out].
    // The scales are stored f16 (the IR's d) and cast to f32 because DequantizeLinear-21 computes in
    // the scale's type: an f16 product q·d would round where the IR computes it in f32.
    private static string Dequantize(OnnxGraphBuilder g, Tensor t)
    {
        var codes = WeightName(g, t);
        var scales = g.Op("Cast", [codes + OnnxWeight.ScalesSuffix], OnnxGraphBuilder.Int("to", (long)DataType.Float));
        return g.Op("DequantizeLinear", [codes, scales], OnnxGraphBuilder.Int("axis", 0), OnnxGraphBuilder.Int("block_size", t.Type.Info().BlockValues));
    }

    private static string Mins(OnnxGraphBuilder g, Tensor t) =>
        g.Op("Cast", [WeightName(g, t) + StandardWeights.MinsSuffix], OnnxGraphBuilder.Int("to", (long)DataType.Float));
}
