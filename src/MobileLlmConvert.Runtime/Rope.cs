namespace MobileLlmConvert.Runtime;

/// <summary>
/// Rotary position embedding in Hugging Face's rotate_half layout (transformers models/llama/modeling_llama.py, rotate_half): within a head of
/// size hd, element i pairs with element i + hd/2 and both rotate by pos · inv_freq[i], with
/// inv_freq[i] = theta^(-2i/hd). Angles are computed in double once for every position, so the
/// token loop only multiplies.
/// </summary>
internal sealed class Rope
{
    private readonly float[] _cos; // [maxContext, hd/2]
    private readonly float[] _sin; // [maxContext, hd/2]
    private readonly int _half;

    public Rope(int headDim, float theta, int maxContext)
    {
        _half = headDim / 2;
        _cos = new float[checked(maxContext * _half)];
        _sin = new float[_cos.Length];
        for (int i = 0; i < _half; i++)
        {
            double invFreq = Math.Pow(theta, -2.0 * i / headDim);
            for (int pos = 0; pos < maxContext; pos++)
            {
                double angle = pos * invFreq;
                _cos[pos * _half + i] = (float)Math.Cos(angle);
                _sin[pos * _half + i] = (float)Math.Sin(angle);
            }
        }
    }

    /// <summary>Rotates every head of <paramref name="vec"/> (heads · hd values) for position <paramref name="pos"/>.</summary>
    public void Apply(Span<float> vec, int pos)
    {
        var cos = _cos.AsSpan(pos * _half, _half);
        var sin = _sin.AsSpan(pos * _half, _half);
        for (int h = 0; h < vec.Length; h += 2 * _half)
        {
            var a = vec.Slice(h, _half);
            var b = vec.Slice(h + _half, _half);
            for (int i = 0; i < _half; i++)
            {
                float x0 = a[i], x1 = b[i];
                a[i] = x0 * cos[i] - x1 * sin[i];
                b[i] = x1 * cos[i] + x0 * sin[i];
            }
        }
    }
}
