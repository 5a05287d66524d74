using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// The default rounding of the symmetric types (<see cref="QuantKernel{TBlock}"/>'s Quantize with
/// <see cref="QuantRounding.Search"/>: ggml's round-to-nearest block, <see cref="ScaleSearch.Symmetric"/>,
/// the one with the lower squared error kept) for sixteen blocks at once, one block per
/// <see cref="Vector512{T}"/> lane. Each lane runs the scalar's IEEE operations in the scalar's order:
/// the same f32 products, divisions and round-half-even, f64 sums accumulated element by element, the
/// ladder's steps compared in order; only the sums of l² are kept in f32, where they are small integers
/// and exact. Vector arithmetic is lane-wise IEEE (no contraction into FMA, no flush-to-zero), so every
/// byte equals the scalar's. A batch holding a block whose largest magnitude is non-zero but below
/// <see cref="MinMagnitude"/> (where the scalar's inverse scales overflow to infinity and its integer
/// conversions of NaN and infinity take over) or a non-finite value is declined and the caller runs the
/// scalar path on it.
/// </summary>
internal static unsafe class SymmetricSearchSimd
{
    /// <summary>Blocks per batch: one per f32 lane of a 512-bit vector.</summary>
    public const int Lanes = 16;

    /// <summary>Largest group this path takes (stack scratch is sized by it).</summary>
    public const int MaxGroup = 128;

    /// <summary>
    /// Below this (non-zero) largest magnitude a batch goes to the scalar path: the ladder's inverse scale
    /// −(nmax + 0.9)/max stays finite for |max| above about 5e-38 at nmax = 16, and 1e-30 leaves margin.
    /// </summary>
    public const float MinMagnitude = 1e-30f;

    /// <summary>The ladder of <see cref="ScaleSearch.Symmetric"/>: steps −9..9 of 0.1 around nmax.</summary>
    private const int FirstStep = -9, Steps = 19;

    /// <summary>Whether the 512-bit vectors run in hardware here (otherwise the scalar path is faster).</summary>
    public static bool IsAccelerated => Vector512.IsHardwareAccelerated;

    /// <summary>
    /// Quantizes the src.Length / <paramref name="g"/> (1 to <see cref="Lanes"/>) consecutive blocks at
    /// <paramref name="src"/>: for block b, <paramref name="scales"/>[b] is the f32 scale its f16 is
    /// rounded from and <paramref name="levels"/>[b·g + j] its level j in [0, 2·nmax). Unused lanes run
    /// as zero blocks. Returns false, having written nothing, when the batch needs the scalar path (see
    /// the class summary).
    /// </summary>
    /// <remarks>
    /// Compiled optimised at its first call (<see cref="MethodImplOptions.AggressiveOptimization"/>), as are the
    /// other per-row loops of a conversion: tiered compilation would first run these loops unoptimised and
    /// instrumented, on every core, until it recompiles them.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Batch(ReadOnlySpan<float> src, int g, int nmax, Span<float> scales, Span<int> levels)
    {
        int count = g > 0 ? src.Length / g : 0;
        if (g > MaxGroup || count < 1 || count > Lanes || src.Length != count * g || scales.Length < count || levels.Length < count * g || nmax is < 1 or > 64)
            throw new ArgumentException($"a batch of 1 to {Lanes} blocks of {g} values (nmax {nmax}) does not fit {src.Length} values");
        var xs = stackalloc Vector512<float>[g];
        var xlo = stackalloc Vector512<double>[g];
        var xhi = stackalloc Vector512<double>[g];
        var qr = stackalloc Vector512<float>[g];
        var ls = stackalloc Vector512<float>[g];
        fixed (float* s = src)
        {
            float* t = (float*)xs;
            if (count < Lanes) new Span<float>(t, Lanes * g).Clear();
            for (int b = 0; b < count; b++)
            {
                float* row = s + b * g;
                for (int j = 0; j < g; j++) t[j * Lanes + b] = row[j];
            }
        }

        // The largest magnitude and its signed value, the first one on ties (|v| > amax, as both scalars).
        var amax = Vector512<float>.Zero;
        var max = Vector512<float>.Zero;
        var nan = Vector512<float>.Zero;
        for (int j = 0; j < g; j++)
        {
            var v = xs[j];
            var a = Vector512.Abs(v);
            var gt = Vector512.GreaterThan(a, amax);
            amax = Vector512.ConditionalSelect(gt, a, amax);
            max = Vector512.ConditionalSelect(gt, v, max);
            nan += v - v;
            (xlo[j], xhi[j]) = Vector512.Widen(v);
        }
        var zero = Vector512.Equals(amax, Vector512<float>.Zero);
        if (!Vector512.EqualsAll(nan, Vector512<float>.Zero)
            || (Vector512.LessThan(amax, Vector512.Create(MinMagnitude)) & ~zero) != Vector512<float>.Zero)
            return false;

        // Round to nearest (quantize_row_q4_0_ref / q5_0_ref): d = max/−nmax, q = min(2nmax−1, trunc(x/d + nmax + 0.5)).
        float fn = nmax;
        var dR = max / Vector512.Create(-fn);
        var idR = Vector512.ConditionalSelect(Vector512.Equals(dR, Vector512<float>.Zero), Vector512<float>.Zero, Vector512<float>.One / dR);
        var dRh = HalfRound(dR);
        var top = Vector512.Create((float)(2 * nmax - 1));
        var bias = Vector512.Create(fn + 0.5f);
        var vn = Vector512.Create(fn);
        Vector512<double> eRlo = default, eRhi = default;
        for (int j = 0; j < g; j++)
        {
            var q = Vector512.Min(top, Vector512.Truncate(xs[j] * idR + bias));
            qr[j] = q;
            var (ylo, yhi) = Vector512.Widen((q - vn) * dRh);
            var dlo = ylo - xlo[j];
            var dhi = yhi - xhi[j];
            eRlo += dlo * dlo;
            eRhi += dhi * dhi;
        }

        // The ladder; a zero block searches with max = 1 (all its levels are 0) and keeps round-to-nearest below.
        var maxS = Vector512.ConditionalSelect(zero, Vector512<float>.One, max);
        var lo = Vector512.Create(-fn);
        var hi = Vector512.Create(fn - 1);
        var bestScoreLo = Vector512.Create(-1.0);
        var bestScoreHi = bestScoreLo;
        Vector512<double> bestScaleLo = default, bestScaleHi = default;
        for (int s0 = 0; s0 < Steps; s0 += 4)
        {
            // Four steps at a time keep four independent chains of f64 additions in flight.
            var i0 = Vector512.Create(InverseScaleNumerator(nmax, s0)) / maxS;
            var i1 = Vector512.Create(InverseScaleNumerator(nmax, s0 + 1)) / maxS;
            var i2 = Vector512.Create(InverseScaleNumerator(nmax, s0 + 2)) / maxS;
            var i3 = Vector512.Create(InverseScaleNumerator(nmax, s0 + 3)) / maxS;
            Vector512<double> x0l = default, x0h = default, x1l = default, x1h = default, x2l = default, x2h = default, x3l = default, x3h = default;
            Vector512<float> l0 = default, l1 = default, l2 = default, l3 = default;
            for (int j = 0; j < g; j++)
            {
                var v = xs[j];
                var dl = xlo[j];
                var dh = xhi[j];
                var q0 = Vector512.Min(Vector512.Max(Vector512.Round(i0 * v), lo), hi);
                var q1 = Vector512.Min(Vector512.Max(Vector512.Round(i1 * v), lo), hi);
                var q2 = Vector512.Min(Vector512.Max(Vector512.Round(i2 * v), lo), hi);
                var q3 = Vector512.Min(Vector512.Max(Vector512.Round(i3 * v), lo), hi);
                l0 += q0 * q0;
                l1 += q1 * q1;
                l2 += q2 * q2;
                l3 += q3 * q3;
                var (a0, b0) = Vector512.Widen(q0);
                var (a1, b1) = Vector512.Widen(q1);
                var (a2, b2) = Vector512.Widen(q2);
                var (a3, b3) = Vector512.Widen(q3);
                x0l += dl * a0; x0h += dh * b0;
                x1l += dl * a1; x1h += dh * b1;
                x2l += dl * a2; x2h += dh * b2;
                x3l += dl * a3; x3h += dh * b3;
            }
            Keep(x0l, x0h, l0, ref bestScoreLo, ref bestScoreHi, ref bestScaleLo, ref bestScaleHi);
            if (s0 + 1 < Steps) Keep(x1l, x1h, l1, ref bestScoreLo, ref bestScoreHi, ref bestScaleLo, ref bestScaleHi);
            if (s0 + 2 < Steps) Keep(x2l, x2h, l2, ref bestScoreLo, ref bestScoreHi, ref bestScaleLo, ref bestScaleHi);
            if (s0 + 3 < Steps) Keep(x3l, x3h, l3, ref bestScoreLo, ref bestScoreHi, ref bestScaleLo, ref bestScaleHi);
        }

        // The searched block: d = f16(f32(best scale)), levels re-rounded against it; then the lower error wins.
        var dS = Vector512.Narrow(bestScaleLo, bestScaleHi);
        dS = HalfRound(dS);
        var idS = Vector512.ConditionalSelect(Vector512.Equals(dS, Vector512<float>.Zero), Vector512<float>.Zero, Vector512<float>.One / dS);
        Vector512<double> eSlo = default, eShi = default;
        for (int j = 0; j < g; j++)
        {
            var l = Vector512.Min(Vector512.Max(Vector512.Round(xs[j] * idS), lo), hi);
            ls[j] = l;
            var (ylo, yhi) = Vector512.Widen(l * dS);
            var dlo = ylo - xlo[j];
            var dhi = yhi - xhi[j];
            eSlo += dlo * dlo;
            eShi += dhi * dhi;
        }
        var searchWins = Vector512.Narrow(Vector512.LessThan(eSlo, eRlo).AsInt64(), Vector512.LessThan(eShi, eRhi).AsInt64()).AsSingle() & ~zero;
        var dOut = Vector512.ConditionalSelect(searchWins, dS, dR);
        var dLanes = stackalloc float[Lanes];
        dOut.Store(dLanes);
        new ReadOnlySpan<float>(dLanes, count).CopyTo(scales);
        var lanes = (int*)qr;
        for (int j = 0; j < g; j++) Vector512.ConvertToInt32(Vector512.ConditionalSelect(searchWins, ls[j] + vn, qr[j])).Store(lanes + j * Lanes);
        fixed (int* o = levels)
        {
            for (int b = 0; b < count; b++)
            {
                int* block = o + b * g;
                for (int j = 0; j < g; j++) block[j] = lanes[j * Lanes + b];
            }
        }
        return true;
    }

    /// <summary>−(nmax + 0.1·step) in f32, the numerator of the scalar's inverse scale at ladder position <paramref name="index"/>.</summary>
    private static float InverseScaleNumerator(int nmax, int index) => -(nmax + 0.1f * (FirstStep + index));

    /// <summary>One ladder step's verdict, lane by lane as the scalar's: Σl² &gt; 0 and (Σxl)²/Σl² above the best so far.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Keep(Vector512<double> sumlxLo, Vector512<double> sumlxHi, Vector512<float> suml2,
        ref Vector512<double> bestScoreLo, ref Vector512<double> bestScoreHi, ref Vector512<double> bestScaleLo, ref Vector512<double> bestScaleHi)
    {
        var (l2lo, l2hi) = Vector512.Widen(suml2);
        var scoreLo = sumlxLo * sumlxLo / l2lo;
        var scoreHi = sumlxHi * sumlxHi / l2hi;
        var takeLo = Vector512.GreaterThan(l2lo, Vector512<double>.Zero) & Vector512.GreaterThan(scoreLo, bestScoreLo);
        var takeHi = Vector512.GreaterThan(l2hi, Vector512<double>.Zero) & Vector512.GreaterThan(scoreHi, bestScoreHi);
        bestScoreLo = Vector512.ConditionalSelect(takeLo, scoreLo, bestScoreLo);
        bestScoreHi = Vector512.ConditionalSelect(takeHi, scoreHi, bestScoreHi);
        bestScaleLo = Vector512.ConditionalSelect(takeLo, sumlxLo / l2lo, bestScaleLo);
        bestScaleHi = Vector512.ConditionalSelect(takeHi, sumlxHi / l2hi, bestScaleHi);
    }

    /// <summary>Each lane rounded to the nearest f16 and back (the scale a block stores; .NET has no vector f16 conversion).</summary>
    private static Vector512<float> HalfRound(Vector512<float> v)
    {
        var r = stackalloc float[Lanes];
        v.Store(r);
        for (int b = 0; b < Lanes; b++) r[b] = (float)(Half)r[b];
        return Vector512.Load(r);
    }
}
