namespace MobileLlmConvert.Core.Synthetic;

/// <summary>
/// A tiny seeded PRNG (SplitMix64). Written by hand because System.Random's seeded sequence is not
/// promised stable across .NET versions, and fixtures and bench checkpoints must be byte-identical
/// on every machine.
/// </summary>
public struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
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
