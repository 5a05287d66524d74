using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Tests.Oracles;

/// <summary>
/// A deliberately plain Llama forward pass in double precision over the IR, test-only: it lets the
/// GGUF tests check llama.cpp's numbers (and so the Q/K permutation and the metadata keys) without
/// depending on the Runtime executor. RMSNorm, rotate_half RoPE, GQA, SwiGLU, as in Hugging Face's
/// LlamaForCausalLM. Every executed step has its own K/V history.
/// </summary>
public static class NaiveLlamaForward
{
    /// <summary>Logits after each prefix of <paramref name="tokens"/> (positions 0..n-1), one row of vocab size per token.</summary>
    /// <param name="ggmlActivations">
    /// Round the input of every product with a quantized matrix as ggml's CPU backend does (blocks of 32,
    /// scale amax/127 kept as f16, values rounded to int8), so quantized GGUFs can be compared closely.
    /// </param>
    public static double[][] Logits(ModelIr ir, IReadOnlyList<int> tokens, bool ggmlActivations = false)
    {
        var c = ir.Config;
        int hd = c.HeadDim;
        var w = new Dictionary<string, double[]>();
        double[] W(string key) => w.TryGetValue(key, out var v) ? v : w[key] = Dequantize(ir[key]);
        double[] MatVec(string key, double[] x, int rows)
        {
            var t = ir[key];
            if (!ggmlActivations || !t.Type.Info().IsQuantized) return NaiveLlamaForward.MatVec(W(key), x, rows);
            var y = NaiveLlamaForward.MatVec(W(key), RoundLikeQ8(x), rows);
            if (t.Type == ElementType.Q4_1) CorrectQ4_1MinTerm(t, x, y);
            return y;
        }
        var keys = new List<double[]>[ir.Steps.Count];
        var values = new List<double[]>[ir.Steps.Count];
        for (int s = 0; s < ir.Steps.Count; s++) { keys[s] = []; values[s] = []; }
        var result = new double[tokens.Count][];
        for (int pos = 0; pos < tokens.Count; pos++)
        {
            var x = W(ir.Embedding).AsSpan(tokens[pos] * c.HiddenSize, c.HiddenSize).ToArray();
            for (int s = 0; s < ir.Steps.Count; s++)
            {
                var step = ir.Steps[s];
                var h = RmsNorm(x, W(step.AttnNorm), c.RmsNormEps);
                var q = MatVec(step.Q, h, c.QueryWidth);
                var k = MatVec(step.K, h, c.KvWidth);
                var v = MatVec(step.V, h, c.KvWidth);
                Rope(q, c.NumHeads, hd, pos, c.RopeTheta);
                Rope(k, c.NumKvHeads, hd, pos, c.RopeTheta);
                keys[s].Add(k);
                values[s].Add(v);
                var attn = new double[c.QueryWidth];
                for (int head = 0; head < c.NumHeads; head++)
                {
                    int kvHead = head / c.KvGroup;
                    var scores = new double[pos + 1];
                    for (int t = 0; t <= pos; t++)
                    {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += q[head * hd + i] * keys[s][t][kvHead * hd + i];
                        scores[t] = dot / Math.Sqrt(hd);
                    }
                    var p = Softmax(scores);
                    for (int t = 0; t <= pos; t++)
                    {
                        for (int i = 0; i < hd; i++) attn[head * hd + i] += p[t] * values[s][t][kvHead * hd + i];
                    }
                }
                Add(x, MatVec(step.O, attn, c.HiddenSize));
                var h2 = RmsNorm(x, W(step.FfnNorm), c.RmsNormEps);
                var gate = MatVec(step.Gate, h2, c.IntermediateSize);
                var up = MatVec(step.Up, h2, c.IntermediateSize);
                for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                Add(x, MatVec(step.Down, gate, c.HiddenSize));
            }
            result[pos] = MatVec(ir.Output, RmsNorm(x, W(ir.FinalNorm), c.RmsNormEps), c.VocabSize);
        }
        return result;
    }

    public static double[] Softmax(double[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    private static double[] Dequantize(Tensor t)
    {
        var f = new float[checked((int)t.ElementCount)];
        if (t.Type.Info().IsQuantized) QuantOps.Dequantize(t.Type, t.Source.Read(), f);
        else FloatConvert.ToSingle(t.Source.Read(), t.Type, f);
        return f.Select(v => (double)v).ToArray();
    }

    /// <summary>ggml's activation blocks: q = round(x·127/amax) in f32, value = q · f16(amax/127).</summary>
    private static double[] RoundLikeQ8(double[] x)
    {
        var y = new double[x.Length];
        for (int b = 0; b < x.Length; b += 32)
        {
            float amax = 0;
            for (int j = b; j < b + 32; j++) amax = MathF.Max(amax, MathF.Abs((float)x[j]));
            float id = amax != 0 ? 127f / amax : 0f;
            double d = (double)(Half)(amax / 127f);
            for (int j = b; j < b + 32; j++) y[j] = MathF.Round((float)x[j] * id) * d;
        }
        return y;
    }

    /// <summary>
    /// Q4_1 pairs with ggml's Q8_1 activations, whose min term uses s = f16(d·Σq) with d in f32, not
    /// f16(d)·Σq: replace m·f16(d)·Σq by m·f16(d·Σq) per block.
    /// </summary>
    private static void CorrectQ4_1MinTerm(Tensor t, double[] x, double[] y)
    {
        var bytes = t.Source.Read();
        int blocks = x.Length / 32;
        for (int b = 0; b < blocks; b++)
        {
            float amax = 0;
            for (int j = b * 32; j < b * 32 + 32; j++) amax = MathF.Max(amax, MathF.Abs((float)x[j]));
            float id = amax != 0 ? 127f / amax : 0f;
            float d = amax / 127f;
            int sum = 0;
            for (int j = b * 32; j < b * 32 + 32; j++) sum += (int)MathF.Round((float)x[j] * id);
            double exact = (double)(Half)(d * sum), used = (double)(Half)d * sum;
            for (int r = 0; r < y.Length; r++)
            {
                double m = (double)BitConverter.ToHalf(bytes.Slice((r * blocks + b) * 20 + 2, 2));
                y[r] += m * (exact - used);
            }
        }
    }

    private static double[] RmsNorm(double[] x, double[] weight, double eps)
    {
        double ms = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(ms + eps);
        return x.Select((v, i) => v * scale * weight[i]).ToArray();
    }

    private static double[] MatVec(double[] m, double[] x, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int i = 0; i < x.Length; i++) s += m[r * x.Length + i] * x[i];
            y[r] = s;
        }
        return y;
    }

    /// <summary>Hugging Face rotate_half: element i pairs with i + hd/2 in each head.</summary>
    private static void Rope(double[] v, int heads, int hd, int pos, double theta)
    {
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < hd / 2; i++)
            {
                double angle = pos * Math.Pow(theta, -2.0 * i / hd);
                double a = v[h * hd + i], b = v[h * hd + i + hd / 2];
                v[h * hd + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
                v[h * hd + i + hd / 2] = b * Math.Cos(angle) + a * Math.Sin(angle);
            }
        }
    }

    private static void Add(double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }
}
