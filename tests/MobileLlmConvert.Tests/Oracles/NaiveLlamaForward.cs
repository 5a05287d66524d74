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
    public static double[][] Logits(ModelIr ir, IReadOnlyList<int> tokens)
    {
        var c = ir.Config;
        int hd = c.HeadDim;
        var w = new Dictionary<string, double[]>();
        double[] W(string key) => w.TryGetValue(key, out var v) ? v : w[key] = Dequantize(ir[key]);
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
                var q = MatVec(W(step.Q), h, c.QueryWidth);
                var k = MatVec(W(step.K), h, c.KvWidth);
                var v = MatVec(W(step.V), h, c.KvWidth);
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
                Add(x, MatVec(W(step.O), attn, c.HiddenSize));
                var h2 = RmsNorm(x, W(step.FfnNorm), c.RmsNormEps);
                var gate = MatVec(W(step.Gate), h2, c.IntermediateSize);
                var up = MatVec(W(step.Up), h2, c.IntermediateSize);
                for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                Add(x, MatVec(W(step.Down), gate, c.HiddenSize));
            }
            result[pos] = MatVec(W(ir.Output), RmsNorm(x, W(ir.FinalNorm), c.RmsNormEps), c.VocabSize);
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
