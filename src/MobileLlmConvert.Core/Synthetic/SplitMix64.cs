namespace MobileLlmConvert.Core.Synthetic;

/// <summary>
/// A tiny seeded PRNG (SplitMix64). Written by hand because System.Random's seeded sequence is not
/// promised stable across .NET versions, and fixtures and bench checkpoints must be byte-identical
/// on every machine.
/// </summary>
public struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The state is a counter advanced by a constant per call (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).</summary>
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;

    /// <summary>
    /// The generator <paramref name="calls"/> calls of <see cref="NextUInt64"/> after
    /// <c>new SplitMix64(seed)</c>, in O(1): the state after k calls is seed + k * gamma. Lets any
    /// tensor, or any row of one, be generated on its own thread with the bytes of one serial stream.
    /// </summary>
    public static SplitMix64 At(ulong seed, ulong calls) => new(unchecked(seed + calls * Gamma));

    /// <summary>Number of <see cref="NextUInt64"/> calls one <see cref="NextGaussian"/> makes.</summary>
    public const int CallsPerGaussian = 4;

    public ulong NextUInt64()
    {
        ulong z = _state += Gamma;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 24 bits of precision.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Approximately normal (sum of four uniforms, rescaled): cheap and deterministic.</summary>
    public float NextGaussian()
    {
        float s = NextSingle() + NextSingle() + NextSingle() + NextSingle() - 2f;
        return s * 1.7320508f; // variance of the sum is 4/12; scale to unit variance
    }
}
