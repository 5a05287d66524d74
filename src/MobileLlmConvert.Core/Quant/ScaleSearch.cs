namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// Scale search for one block, and the ggml helpers the K-quants are defined by.
/// <see cref="Symmetric"/> and <see cref="Asymmetric"/> are our least-squares search (the default for
/// the 4- and 5-bit types): a ladder of candidate inverse scales around the round-to-nearest one, each
/// assignment of levels refitted by least squares, the best kept; then the scale (and min) is rounded
/// to the f16 that is stored and the levels are re-rounded against it. The idea and the ladder are
/// ggml's (make_qx_quants and make_qkx2_quants in ggml/src/ggml-quants.c; llama.cpp PRs #1106, #1684),
/// with unit weights (plain squared error) and f64 sums. <see cref="MakeQxQuants"/> and
/// <see cref="MakeQkx2Quants"/> are exact ports: the K-quant reference quantizers depend on their bits.
/// </summary>
internal static class ScaleSearch
{
    /// <summary>ggml's GROUP_MAX_EPS: a block whose largest magnitude is below it quantizes to zeros.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// Levels l in [−nmax, nmax − 1] and the f16-representable scale d minimising Σ (d·l − x)²; returns d.
    /// </summary>
    public static float Symmetric(ReadOnlySpan<float> x, int nmax, Span<int> l)
    {
        float amax = 0, max = 0;
        foreach (var v in x)
        {
            if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
        }
        if (amax == 0)
        {
            l.Clear();
            return 0;
        }
        double bestScore = -1, bestScale = 0;
        for (int step = -9; step <= 9; step++)
        {
            // For fixed levels the best scale is Σxl/Σl² and the error Σx² − (Σxl)²/Σl²: maximise the ratio.
            float iscale = -(nmax + 0.1f * step) / max;
            double sumlx = 0, suml2 = 0;
            for (int i = 0; i < x.Length; i++)
            {
                int q = Math.Clamp((int)MathF.Round(iscale * x[i], MidpointRounding.ToEven), -nmax, nmax - 1);
                sumlx += (double)x[i] * q;
                suml2 += (double)q * q;
            }
            if (suml2 > 0 && sumlx * sumlx / suml2 > bestScore)
            {
                bestScore = sumlx * sumlx / suml2;
                bestScale = sumlx / suml2;
            }
        }
        float d = (float)(Half)(float)bestScale;
        float id = d != 0 ? 1f / d : 0f;
        for (int i = 0; i < x.Length; i++) l[i] = Math.Clamp((int)MathF.Round(x[i] * id, MidpointRounding.ToEven), -nmax, nmax - 1);
        return d;
    }

    /// <summary>
    /// Levels l in [0, nmax] and f16-representable (d, m) minimising Σ (d·l + m − x)²; returns (d, m).
    /// </summary>
    public static (float D, float M) Asymmetric(ReadOnlySpan<float> x, int nmax, Span<int> l)
    {
        float min = float.MaxValue, max = float.MinValue;
        foreach (var v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        if (max == min)
        {
            l.Clear();
            return (0, (float)(Half)min);
        }
        int n = x.Length;
        double sumX = 0;
        foreach (var v in x) sumX += v;
        double bestErr = double.MaxValue, bestD = (max - min) / nmax, bestM = min;
        for (int step = 0; step <= 20; step++)
        {
            float iscale = (-1f + 0.1f * step + nmax) / (max - min);
            double sl = 0, sl2 = 0, sxl = 0;
            for (int i = 0; i < n; i++)
            {
                int q = Math.Clamp((int)MathF.Round(iscale * (x[i] - min), MidpointRounding.ToEven), 0, nmax);
                sl += q;
                sl2 += (double)q * q;
                sxl += (double)q * x[i];
            }
            double det = n * sl2 - sl * sl;
            if (det <= 0) continue;
            double d = (n * sxl - sumX * sl) / det;
            double m = (sl2 * sumX - sl * sxl) / det;
            double err = 0;
            for (int i = 0; i < n; i++)
            {
                int q = Math.Clamp((int)MathF.Round(iscale * (x[i] - min), MidpointRounding.ToEven), 0, nmax);
                double e = d * q + m - x[i];
                err += e * e;
            }
            if (err < bestErr) { bestErr = err; bestD = d; bestM = m; }
        }
        float dh = (float)(Half)(float)bestD, mh = (float)(Half)(float)bestM;
        float id = dh != 0 ? 1f / dh : 0f;
        for (int i = 0; i < n; i++) l[i] = Math.Clamp((int)MathF.Round((x[i] - mh) * id, MidpointRounding.ToEven), 0, nmax);
        return (dh, mh);
    }

    /// <summary>ggml's nearest_int: round half to even via the 1.5·2^23 trick, identical to MathF.Round(ToEven) for |v| ≤ 4194303.</summary>
    public static int NearestInt(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    /// <summary>
    /// ggml make_qx_quants (signed levels stored as l + nmax). With <paramref name="quantWeights"/> (one per
    /// value) they replace the rmse type's weights, as llama-quantize passes an importance matrix.
    /// </summary>
    public static float MakeQxQuants(ReadOnlySpan<float> x, int nmax, Span<sbyte> levels, int rmseType, ReadOnlySpan<float> quantWeights = default)
    {
        int n = x.Length;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        if (rmseType == 0)
        {
            for (int i = 0; i < n; i++) levels[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i]))));
            return 1 / iscale;
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int q = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
            levels[i] = (sbyte)(q + nmax);
            float w = quantWeights.IsEmpty ? Weight(x[i], rmseType) : quantWeights[i];
            sumlx += w * x[i] * q;
            suml2 += w * q * q;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int q = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
                float w = quantWeights.IsEmpty ? Weight(x[i], rmseType) : quantWeights[i];
                sumlx += w * x[i] * q;
                suml2 += w * q * q;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++) levels[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i]))));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static float Weight(float x, int rmseType) => rmseType switch
    {
        1 => x * x,
        2 => 1,
        3 => MathF.Abs(x),
        4 => MathF.Sqrt(MathF.Abs(x)),
        _ => throw new ArgumentOutOfRangeException(nameof(rmseType), rmseType, "ggml defines rmse types 1 to 4"),
    };

    /// <summary>ggml make_qkx2_quants with use_mad = false: returns the scale, <paramref name="theMin"/> = −min.</summary>
    public static float MakeQkx2Quants(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, int nmax, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep)
        => Affine(x, weights, nmax, levels, out theMin, aux, rmin, rdelta, nstep);

    /// <summary>
    /// ggml make_qkx3_quants with caller weights and use_mad = false (the importance-weighted asymmetric
    /// search of quantize_row_q4_1_impl, q5_1_impl and q4_K_impl): returns the scale, <paramref name="theMin"/> = −min.
    /// </summary>
    public static float MakeQkx3Quants(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, int nmax, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep)
        => Affine(x, weights, nmax, levels, out theMin, aux, rmin, rdelta, nstep);

    /// <summary>
    /// The weighted affine search both ggml functions share: round at the max-min scale, then try
    /// <paramref name="nstep"/> + 1 inverse scales around it, each refit by weighted least squares
    /// (scale and min; min clamped to 0 from above), keeping the lowest weighted squared error.
    /// (ggml-quants.c: make_qkx2_quants and make_qkx3_quants run the same steps when use_mad is false.)
    /// </summary>
    private static float Affine(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, int nmax, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max <= min)
        {
            levels[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int q = NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Max(0, Math.Min(nmax, q));
            float diff = scale * levels[i] + min - x[i];
            bestError += weights[i] * (diff * diff);
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++)
            {
                int q = Math.Max(0, Math.Min(nmax, NearestInt(iscale * (x[i] - min))));
                aux[i] = (byte)q;
                float w = weights[i];
                sumL += w * q;
                sumL2 += w * q * q;
                sumXl += w * q * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXl - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * aux[i] + thisMin - x[i];
                    curError += weights[i] * (diff * diff);
                }
                if (curError < bestError)
                {
                    aux[..n].CopyTo(levels);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// ggml make_qp_quants: non-negative levels in [0, nmax] for the eight sub-block scales (or mins) of a
    /// Q4_K super-block, weighted by each sub-block's weight sum; returns the super-block scale. Levels are
    /// kept in bytes exactly as ggml's uint8_t L[] (an out-of-range rounding wraps there as here).
    /// </summary>
    public static float MakeQpQuants(ReadOnlySpan<float> x, int nmax, Span<byte> levels, ReadOnlySpan<float> quantWeights)
    {
        int n = x.Length;
        float max = 0;
        for (int i = 0; i < n; i++) max = Math.Max(max, x[i]);
        if (max < GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; i++) levels[i] = (byte)NearestInt(iscale * x[i]);
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; i++)
        {
            float diff = x[i] - scale * levels[i];
            bestMse += quantWeights[i] * diff * diff;
        }
        for (int step = -4; step <= 4; step++)
        {
            if (step == 0) continue;
            float iscaleStep = (0.1f * step + nmax) / max;
            float scaleStep = 1 / iscaleStep;
            float mse = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Min(nmax, NearestInt(iscaleStep * x[i]));
                float diff = x[i] - scaleStep * l;
                mse += quantWeights[i] * diff * diff;
            }
            if (mse < bestMse)
            {
                bestMse = mse;
                iscale = iscaleStep;
            }
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Min(nmax, NearestInt(iscale * x[i]));
            levels[i] = (byte)l;
            float w = quantWeights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int tries = 0; tries < 5; tries++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = quantWeights[i];
                float slx = sumlx - w * x[i] * levels[i];
                float sl2 = suml2 - w * levels[i] * levels[i];
                if (slx > 0 && sl2 > 0)
                {
                    int newL = Math.Min(nmax, NearestInt(x[i] * sl2 / slx));
                    if (newL != levels[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            levels[i] = (byte)newL;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// llama.cpp's importance weights for the 32-value legacy types (quantize_row_q4_0_impl and its
    /// q4_1 / q5_0 / q5_1 siblings): w_j = qw_j·sqrt(σ² + x_j²), σ² the mean x² of the whole row.
    /// </summary>
    public static void ImportanceWeights(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, float rowSigma2, Span<float> weights)
    {
        for (int j = 0; j < x.Length; j++) weights[j] = qw[j] * MathF.Sqrt(rowSigma2 + x[j] * x[j]);
    }

    /// <summary>Σx²/n in f32, summed in order, as ggml's *_impl quantizers compute σ² of a row.</summary>
    public static float MeanSquare(ReadOnlySpan<float> x)
    {
        float sum = 0;
        foreach (var v in x) sum += v * v;
        return sum / x.Length;
    }
}
