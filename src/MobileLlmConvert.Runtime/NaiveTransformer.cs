using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>What the naive forward feeds a product with a quantized matrix.</summary>
public enum NaiveActivations
{
    /// <summary>The f32 activations as they are: the model's exact function.</summary>
    Exact,
    /// <summary>
    /// The activations rounded as ggml's CPU backend rounds them before a quantized dot product
    /// (ggml-quants.c quantize_row_q8_0 / q8_1: blocks of 32, scale amax/127 stored as f16, values
    /// rounded to int8), so a quantized GGUF run by llama.cpp can be compared closely.
    /// </summary>
    GgmlQ8,
}

/// <summary>
/// The obviously-correct Llama forward pass (Hugging Face's LlamaForCausalLM: RMSNorm, rotate_half
/// RoPE, GQA, SwiGLU) that the optimized <see cref="Transformer"/> and llama.cpp are tested against:
/// one token at a time, scalar loops, double accumulators, every weight row dequantized on use, K/V
/// cached per executed step. Slow on purpose; only tests and checks use it.
/// </summary>
public sealed class NaiveTransformer
{
    /// <summary>ggml's activation block (QK8_0 = QK8_1 = 32).</summary>
    private const int GgmlActivationBlock = 32;

    private readonly ModelIr _ir;
    private readonly ModelConfig _c;
    private readonly Dictionary<string, WeightMatrix> _m = new(StringComparer.Ordinal);
    private readonly float[][] _keys;   // [step][pos * kvWidth]
    private readonly float[][] _values; // [step][pos * kvWidth]
    private readonly NaiveActivations _activations;
    private int _pos;

    public int MaxContext { get; }

    public NaiveTransformer(ModelIr ir, int maxContext, NaiveActivations activations = NaiveActivations.Exact)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxContext);
        IrValidator.Validate(ir, ir.SourcePath ?? "(ir)");
        _ir = ir;
        _c = ir.Config;
        _activations = activations;
        MaxContext = maxContext;
        _keys = new float[ir.Steps.Count][];
        _values = new float[ir.Steps.Count][];
        for (int l = 0; l < _keys.Length; l++)
        {
            _keys[l] = new float[maxContext * _c.KvWidth];
            _values[l] = new float[maxContext * _c.KvWidth];
        }
    }

    public void Reset() => _pos = 0;

    /// <summary>Logits after each prefix of <paramref name="tokens"/>: one row of vocabulary size per position.</summary>
    public static float[][] Logits(ModelIr ir, IReadOnlyList<int> tokens, NaiveActivations activations = NaiveActivations.Exact)
    {
        var naive = new NaiveTransformer(ir, Math.Max(1, tokens.Count), activations);
        return tokens.Select(naive.Forward).ToArray();
    }

    /// <summary>Feeds one token at the next position and returns its logits [vocab].</summary>
    public float[] Forward(int token)
    {
        if (_pos >= MaxContext) throw new InvalidOperationException("naive transformer: context full");
        int hidden = _c.HiddenSize, hd = _c.HeadDim, kvw = _c.KvWidth;
        var x = Row(_ir.Embedding, token);
        for (int l = 0; l < _ir.Steps.Count; l++)
        {
            var step = _ir.Steps[l];
            var xb = RmsNorm(x, Vector(step.AttnNorm));
            var q = MatVec(step.Q, xb);
            var k = MatVec(step.K, xb);
            var v = MatVec(step.V, xb);
            RotateHalf(q, _pos);
            RotateHalf(k, _pos);
            Array.Copy(k, 0, _keys[l], _pos * kvw, kvw);
            Array.Copy(v, 0, _values[l], _pos * kvw, kvw);

            var att = new float[_c.QueryWidth];
            for (int h = 0; h < _c.NumHeads; h++)
            {
                int kvh = h / _c.KvGroup;
                var scores = new double[_pos + 1];
                for (int t = 0; t <= _pos; t++)
                {
                    double dot = 0;
                    for (int i = 0; i < hd; i++) dot += (double)q[h * hd + i] * _keys[l][t * kvw + kvh * hd + i];
                    scores[t] = dot / Math.Sqrt(hd);
                }
                double max = scores.Max(), sum = 0;
                for (int t = 0; t <= _pos; t++) sum += scores[t] = Math.Exp(scores[t] - max);
                for (int i = 0; i < hd; i++)
                {
                    double acc = 0;
                    for (int t = 0; t <= _pos; t++) acc += scores[t] / sum * _values[l][t * kvw + kvh * hd + i];
                    att[h * hd + i] = (float)acc;
                }
            }
            var o = MatVec(step.O, att);
            for (int i = 0; i < hidden; i++) x[i] += o[i];

            xb = RmsNorm(x, Vector(step.FfnNorm));
            var gate = MatVec(step.Gate, xb);
            var up = MatVec(step.Up, xb);
            var hbuf = new float[gate.Length];
            for (int i = 0; i < gate.Length; i++) hbuf[i] = (float)(gate[i] / (1 + Math.Exp(-gate[i])) * up[i]);
            var down = MatVec(step.Down, hbuf);
            for (int i = 0; i < hidden; i++) x[i] += down[i];
        }
        _pos++;
        return MatVec(_ir.Output, RmsNorm(x, Vector(_ir.FinalNorm)));
    }

    private WeightMatrix Matrix(string key)
    {
        if (!_m.TryGetValue(key, out var m)) _m[key] = m = new WeightMatrix(_ir[key]);
        return m;
    }

    private float[] Row(string key, int row)
    {
        var m = Matrix(key);
        var r = new float[m.Cols];
        m.ReadRow(row, r);
        return r;
    }

    private float[] Vector(string key) => ModelWeights.ReadVector(_ir[key]);

    private float[] MatVec(string key, float[] x)
    {
        var m = Matrix(key);
        bool ggml = _activations == NaiveActivations.GgmlQ8 && m.IsQuantized;
        var input = x;
        if (ggml) x = RoundLikeGgmlQ8(x);
        var y = new float[m.Rows];
        var row = new float[m.Cols];
        for (int r = 0; r < m.Rows; r++)
        {
            m.ReadRow(r, row);
            double acc = 0;
            for (int i = 0; i < row.Length; i++) acc += (double)row[i] * x[i];
            y[r] = (float)acc;
        }
        if (ggml && m.Type == ElementType.Q4_1) CorrectQ4_1MinTerm(_ir[key], input, y);
        return y;
    }

    /// <summary>ggml's activation blocks: q = round(x·127/amax) in f32, value = q · f16(amax/127).</summary>
    private static float[] RoundLikeGgmlQ8(float[] x)
    {
        var y = new float[x.Length];
        for (int b = 0; b < x.Length; b += GgmlActivationBlock)
        {
            int end = Math.Min(x.Length, b + GgmlActivationBlock);
            float amax = 0;
            for (int j = b; j < end; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float id = amax != 0 ? 127f / amax : 0f;
            float d = (float)(Half)(amax / 127f);
            for (int j = b; j < end; j++) y[j] = MathF.Round(x[j] * id) * d;
        }
        return y;
    }

    /// <summary>
    /// Q4_1 pairs with ggml's Q8_1 activations, whose min term uses s = f16(d·Σq) with d in f32, not
    /// f16(d)·Σq: replace m·f16(d)·Σq by m·f16(d·Σq) per block (<paramref name="x"/> unrounded).
    /// </summary>
    private static void CorrectQ4_1MinTerm(Tensor t, float[] x, float[] y)
    {
        // Q4_1 block (ggml-common.h block_q4_1): f16 d, f16 m, then the nibbles.
        const int minOffset = 2;
        int blockBytes = ElementType.Q4_1.Info().BlockBytes;
        var bytes = t.Source.Read();
        int blocks = x.Length / GgmlActivationBlock;
        for (int b = 0; b < blocks; b++)
        {
            int start = b * GgmlActivationBlock, end = start + GgmlActivationBlock;
            float amax = 0;
            for (int j = start; j < end; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
            float id = amax != 0 ? 127f / amax : 0f;
            float d = amax / 127f;
            int sum = 0;
            for (int j = start; j < end; j++) sum += (int)MathF.Round(x[j] * id);
            double exact = (double)(Half)(d * sum), used = (double)(Half)d * sum;
            for (int r = 0; r < y.Length; r++)
            {
                double m = (double)BitConverter.ToHalf(bytes.Slice(checked((r * blocks + b) * blockBytes + minOffset), 2));
                y[r] = (float)(y[r] + m * (exact - used));
            }
        }
    }

    private float[] RmsNorm(float[] x, float[] w)
    {
        double ss = 0;
        foreach (var v in x) ss += (double)v * v;
        double scale = 1 / Math.Sqrt(ss / x.Length + _c.RmsNormEps);
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = (float)(x[i] * scale * w[i]);
        return y;
    }

    // Hugging Face rotate_half: element i pairs with i + hd/2, angle pos * theta^(-2i/hd).
    private void RotateHalf(float[] vec, int pos)
    {
        int hd = _c.HeadDim, half = hd / 2;
        for (int h = 0; h < vec.Length; h += hd)
        {
            for (int i = 0; i < half; i++)
            {
                double angle = pos * Math.Pow(_c.RopeTheta, -2.0 * i / hd);
                double x0 = vec[h + i], x1 = vec[h + i + half];
                vec[h + i] = (float)(x0 * Math.Cos(angle) - x1 * Math.Sin(angle));
                vec[h + i + half] = (float)(x1 * Math.Cos(angle) + x0 * Math.Sin(angle));
            }
        }
    }
}
