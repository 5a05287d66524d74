namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// Keeps the reference's residual stream of one window: after the embedding and after every step
/// (<c>[steps + 1][positions × hidden]</c>). The candidate's probe compares against it, and
/// `--per-tensor` resumes the reference from it at the first step a replaced tensor touches.
/// </summary>
internal sealed class ResidualCapture(int steps, int capacity, int hidden) : IResidualObserver
{
    public float[][] Levels { get; } = Enumerable.Range(0, steps + 1).Select(_ => new float[checked(capacity * hidden)]).ToArray();

    public void OnResidual(int stepsDone, int position0, ReadOnlySpan<float> residual) =>
        residual.CopyTo(Levels[stepsDone].AsSpan(position0 * hidden));

    /// <summary>A copy of the first <paramref name="positions"/> rows of every level (kept for `--per-tensor`).</summary>
    public float[][] Snapshot(int positions) => Levels.Select(l => l.AsSpan(0, positions * hidden).ToArray()).ToArray();
}

/// <summary>
/// Compares a candidate's residual stream with the reference's captured one, step by step, summing in
/// double over every position of every window: ‖h_c − h_r‖², ‖h_r‖², ‖h_c‖² and h_c·h_r.
/// </summary>
internal sealed class ResidualComparison(ResidualCapture reference, int steps, int hidden) : IResidualObserver
{
    private readonly double[] _diff2 = new double[steps], _ref2 = new double[steps], _cand2 = new double[steps], _dot = new double[steps];

    public void OnResidual(int stepsDone, int position0, ReadOnlySpan<float> residual)
    {
        if (stepsDone == 0) return; // the embedding: not a step
        int s = stepsDone - 1;
        var r = reference.Levels[stepsDone].AsSpan(position0 * hidden, residual.Length);
        double d2 = 0, r2 = 0, c2 = 0, dot = 0;
        for (int i = 0; i < residual.Length; i++)
        {
            double c = residual[i], x = r[i];
            d2 += (c - x) * (c - x);
            r2 += x * x;
            c2 += c * c;
            dot += c * x;
        }
        _diff2[s] += d2;
        _ref2[s] += r2;
        _cand2[s] += c2;
        _dot[s] += dot;
    }

    /// <summary>
    /// Per step: relative RMS error ‖h_c − h_r‖ / ‖h_r‖ and cosine h_c·h_r / (‖h_c‖‖h_r‖), both over the
    /// concatenation of every scored position's hidden vector.
    /// </summary>
    public IReadOnlyList<LayerError> Result(IReadOnlyList<int> storedBlocks)
    {
        var result = new LayerError[steps];
        for (int s = 0; s < steps; s++)
        {
            double rel = _ref2[s] > 0 ? Math.Sqrt(_diff2[s] / _ref2[s]) : (_diff2[s] > 0 ? double.PositiveInfinity : 0);
            double norms = Math.Sqrt(_ref2[s]) * Math.Sqrt(_cand2[s]);
            double cos = norms > 0 ? _dot[s] / norms : 1;
            result[s] = new LayerError(s, storedBlocks[s], rel, cos);
        }
        return result;
    }
}
