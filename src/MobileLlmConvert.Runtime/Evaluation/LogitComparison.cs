namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// How far a model's next-token distributions are from a reference's, position by position, and the
/// row math every comparison uses (`verify`, `diff`, the tests' agreement checks): log-softmax, KL and
/// arg-max live here once.
/// </summary>
public sealed record LogitComparison(
    int Positions,
    int Top1Agreements,
    double MeanKl,
    double MaxKl,
    double MaxAbsLogitError,
    double MaxAbsProbabilityError)
{
    /// <summary>Fraction of positions (0..1) where both rows have the same arg-max; 1 when there are none.</summary>
    public double Top1Agreement => Positions == 0 ? 1 : (double)Top1Agreements / Positions;

    /// <summary>
    /// Compares row-major [positions, vocab] logits. KL is KL(reference || candidate) in nats,
    /// computed in double from log-softmax so tiny probabilities do not underflow.
    /// </summary>
    public static LogitComparison Compare(ReadOnlySpan<float> reference, ReadOnlySpan<float> candidate, int vocab)
    {
        if (reference.Length != candidate.Length || vocab <= 0 || reference.Length % vocab != 0)
            throw new ArgumentException($"logit arrays of {reference.Length} and {candidate.Length} values do not both hold whole rows of {vocab}");
        int positions = reference.Length / vocab;
        int agree = 0;
        double klSum = 0, klMax = 0, absMax = 0, probMax = 0;
        for (int p = 0; p < positions; p++)
        {
            var r = reference.Slice(p * vocab, vocab);
            var c = candidate.Slice(p * vocab, vocab);
            var row = CompareRow(r, LogSumExp(r), c, LogSumExp(c));
            klSum += row.Kl;
            klMax = Math.Max(klMax, row.Kl);
            absMax = Math.Max(absMax, row.MaxAbsLogitError);
            probMax = Math.Max(probMax, row.MaxAbsProbabilityError);
            if (ArgMax(r) == ArgMax(c)) agree++;
        }
        return new LogitComparison(positions, agree, positions == 0 ? 0 : klSum / positions, klMax, absMax, probMax);
    }

    /// <summary>One position: KL(r || c) and the largest logit and probability differences.</summary>
    public readonly record struct RowComparison(double Kl, double MaxAbsLogitError, double MaxAbsProbabilityError);

    /// <summary>
    /// KL(r || c) = Σ p_r (log p_r − log p_c) with log p = logit − logsumexp, in double, summed in
    /// index order; <paramref name="lseR"/> and <paramref name="lseC"/> are the rows' <see cref="LogSumExp"/>.
    /// </summary>
    public static RowComparison CompareRow(ReadOnlySpan<float> r, double lseR, ReadOnlySpan<float> c, double lseC)
    {
        double kl = 0, absMax = 0, probMax = 0;
        for (int i = 0; i < r.Length; i++)
        {
            double lp = r[i] - lseR, lq = c[i] - lseC;
            double pr = Math.Exp(lp);
            kl += pr * (lp - lq);
            absMax = Math.Max(absMax, Math.Abs((double)r[i] - c[i]));
            probMax = Math.Max(probMax, Math.Abs(pr - Math.Exp(lq)));
        }
        // Rounding can leave a tiny negative value for identical rows.
        return new RowComparison(Math.Max(kl, 0), absMax, probMax);
    }

    /// <summary>log Σ exp(x), shifted by the row maximum so nothing overflows.</summary>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in logits) sum += Math.Exp(x - max);
        return Math.Log(sum) + max;
    }

    /// <summary>Writes log-softmax of <paramref name="logits"/> to <paramref name="output"/>, in double, shifted by the maximum so nothing overflows.</summary>
    public static void LogSoftmax(ReadOnlySpan<float> logits, Span<double> output)
    {
        double logSum = LogSumExp(logits);
        for (int i = 0; i < logits.Length; i++) output[i] = logits[i] - logSum;
    }

    /// <summary>Probabilities of one row (double precision, then rounded to float).</summary>
    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        var l = new double[logits.Length];
        LogSoftmax(logits, l);
        var p = new float[logits.Length];
        for (int i = 0; i < p.Length; i++) p[i] = (float)Math.Exp(l[i]);
        return p;
    }

    /// <summary>Index of the largest value; the lowest index on ties, as greedy decoding picks.</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best]) best = i;
        }
        return best;
    }
}
