using MobileLlmConvert.Core.Synthetic;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace MobileLlmConvert.Runtime;

/// <summary>How the next token is chosen.</summary>
public sealed record SamplerOptions
{
    /// <summary>0 (or less) = greedy: the arg-max, lowest id on ties.</summary>
    public float Temperature { get; init; }
    /// <summary>Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches this; 1 = off.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Seed of the sampler's own PRNG (SplitMix64): the same seed gives the same tokens.</summary>
    public ulong Seed { get; init; }
}

/// <summary>
/// Greedy, temperature and top-p sampling over one row of logits. Buffers are sized to the vocabulary
/// once, so sampling does not allocate; the PRNG is Core's SplitMix64, whose sequence is fixed on every
/// platform and .NET version.
/// </summary>
public sealed class Sampler
{
    private readonly float[] _probs;
    private readonly ulong[] _order;
    private SplitMix64 _rng;

    /// <summary>The options this sampler was made with.</summary>
    public SamplerOptions Options { get; }

    /// <summary>A sampler for logits of <paramref name="vocabSize"/> entries; throws on a NaN temperature or a top-p outside (0, 1].</summary>
    public Sampler(int vocabSize, SamplerOptions? options = null)
    {
        if (vocabSize < 1) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "vocabulary must not be empty");
        Options = options ?? new SamplerOptions();
        if (float.IsNaN(Options.Temperature)) throw new ArgumentException("temperature is NaN", nameof(options));
        if (!(Options.TopP > 0 && Options.TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(options), Options.TopP, "top-p must be in (0, 1]");
        _probs = new float[vocabSize];
        _order = new ulong[vocabSize];
        _rng = new SplitMix64(Options.Seed);
    }

    /// <summary>Chooses the next token id from one position's logits.</summary>
    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.Length != _probs.Length) throw new ArgumentException($"expected {_probs.Length} logits, got {logits.Length}", nameof(logits));
        if (Options.Temperature <= 0) return Greedy(logits);
        var probs = _probs.AsSpan();
        // softmax(logits / T), shifted by the max so exp never overflows.
        TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), probs);
        TensorPrimitives.Multiply(probs, 1f / Options.Temperature, probs);
        TensorPrimitives.Exp(probs, probs);
        TensorPrimitives.Multiply(probs, 1f / TensorPrimitives.Sum(probs), probs);
        double r = NextUnit();
        if (Options.TopP >= 1f) return SampleAll(probs, r);
        int kept = Nucleus(probs, Options.TopP, _order);
        return SampleSorted(probs, _order.AsSpan(0, kept), r);
    }

    /// <summary>The arg-max; the lowest id wins a tie so greedy decoding never depends on scan order.</summary>
    public static int Greedy(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }

    /// <summary>
    /// Sorts the candidates of the nucleus into <paramref name="order"/> (most likely first, lower id
    /// first on ties) and returns how many the nucleus keeps: the smallest prefix whose probability
    /// sum reaches <paramref name="topP"/>. Each entry packs (probability bits, id) so one
    /// allocation-free sort of integers gives a deterministic order.
    /// </summary>
    internal static int Nucleus(ReadOnlySpan<float> probs, float topP, Span<ulong> order)
    {
        // A token below (1 - p) / (n - 1) can never be in the nucleus (llama2.c's observation): even all
        // of them together stay below 1 - p. Skipping them keeps the sort short.
        float cutoff = probs.Length > 1 ? (1f - topP) / (probs.Length - 1) : 0f;
        int n = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] >= cutoff) order[n++] = ((ulong)(uint.MaxValue - BitConverter.SingleToUInt32Bits(probs[i])) << 32) | (uint)i;
        }
        var candidates = order[..n];
        candidates.Sort();
        double cumulative = 0;
        for (int k = 0; k < n; k++)
        {
            cumulative += probs[(int)(uint)candidates[k]];
            if (cumulative >= topP) return k + 1;
        }
        return n; // rounding kept the sum just under p: keep every candidate
    }

    private static int SampleAll(ReadOnlySpan<float> probs, double r)
    {
        double cumulative = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            cumulative += probs[i];
            if (r < cumulative) return i;
        }
        return LastNonZero(probs);
    }

    private static int SampleSorted(ReadOnlySpan<float> probs, ReadOnlySpan<ulong> kept, double r)
    {
        double total = 0;
        foreach (var e in kept) total += probs[(int)(uint)e];
        double target = r * total, cumulative = 0;
        foreach (var e in kept)
        {
            cumulative += probs[(int)(uint)e];
            if (target < cumulative) return (int)(uint)e;
        }
        return (int)(uint)kept[^1];
    }

    private static int LastNonZero(ReadOnlySpan<float> probs)
    {
        for (int i = probs.Length - 1; i > 0; i--)
        {
            if (probs[i] > 0) return i;
        }
        return 0;
    }

    /// <summary>Uniform in [0, 1) with 53 bits.</summary>
    private double NextUnit() => (_rng.NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
