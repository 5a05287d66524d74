using System.Runtime.Intrinsics;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Synthetic;

namespace MobileLlmConvert.Tests.Conversion;

/// <summary>
/// The vectorised synthetic generator: every path (16 and 8 lanes) gives the bytes of the serial
/// SplitMix64 stream, any byte range of a tensor equals the same bytes of the whole, and the
/// register narrowings equal (Half)x and FloatConvert's bf16 rounding.
/// </summary>
public class SyntheticValuesTests
{
    /// <summary>The serial definition, value by value: SplitMix64 jumped to the first draw, then NextGaussian.</summary>
    private static byte[] Serial(int count, ElementType type, SyntheticDraws d)
    {
        var rng = SplitMix64.At(d.Seed, unchecked(d.First * SplitMix64.CallsPerGaussian));
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = d.Norm ? 1f + d.Std * rng.NextGaussian() : d.Std * rng.NextGaussian();
        var bytes = new byte[count * SyntheticValues.ValueBytes(type)];
        FloatConvert.FromSingle(values, type, bytes);
        return bytes;
    }

    public static TheoryData<ElementType, bool, ulong, ulong> Streams => new()
    {
        { ElementType.BF16, false, 1, 0 },
        { ElementType.BF16, true, 77, 12_345 },
        { ElementType.F16, false, 3, 999 },
        { ElementType.F16, true, 5, 1 },
        { ElementType.F32, false, 7, 31 },
        { ElementType.F32, true, 9, 100_001 },
        // Counters that wrap: the seed near 2^64 and a first draw near 2^62 (4 calls per draw wrap past 2^64).
        { ElementType.BF16, false, ulong.MaxValue - 3, (1UL << 62) - 5 },
        { ElementType.F16, false, 0x9E3779B97F4A7C15UL, ulong.MaxValue / 4 },
    };

    [Theory]
    [MemberData(nameof(Streams))]
    public void EveryWidthGivesTheSerialStreamsBytes(ElementType type, bool norm, ulong seed, ulong first)
    {
        // Std 1 for matrices draws many values f16 rounds at its subnormal and normal boundaries;
        // 0.02 (a trained model's) puts many into f16's subnormal range.
        foreach (float std in new[] { 1f, 0.02f, 0.1f })
        {
            var d = new SyntheticDraws(seed, first, std, norm);
            const int count = 4099; // not a multiple of 8 or 16: the scalar tail runs too
            var expected = Serial(count, type, d);
            foreach (var width in Enum.GetValues<SyntheticValues.Width>())
            {
                var got = new byte[expected.Length];
                SyntheticValues.Fill(got, type, d, width);
                Assert.True(expected.AsSpan().SequenceEqual(got), $"{type} norm={norm} std={std} {width}");
            }
        }
    }

    [Theory]
    [InlineData(ElementType.BF16)]
    [InlineData(ElementType.F16)]
    [InlineData(ElementType.F32)]
    public void AnyByteRangeEqualsTheSameBytesOfTheWholeTensor(ElementType type)
    {
        // Long enough that CopyTo spreads it over several blocks on every core.
        long count = 3 * (1 << 20) / SyntheticValues.ValueBytes(type) + 7;
        var source = new SyntheticSource(count, type, new SyntheticDraws(11, 500, 0.25f, false));
        var whole = source.ToArray();
        Assert.True(whole.AsSpan().SequenceEqual(Serial(checked((int)count), type, new SyntheticDraws(11, 500, 0.25f, false))));
        var random = new Random(5);
        foreach (var (offset, length) in new[] { (0L, 0), (0, 1), (1, 1), (1, 2), (3, 5), (2, 4), (whole.Length - 1, 1), (whole.Length - 3, 3), (0, whole.Length) }
            .Concat(Enumerable.Range(0, 40).Select(_ => { long o = random.NextInt64(whole.Length); return (o, (int)random.NextInt64(whole.Length - o + 1)); })))
        {
            var part = new byte[length];
            source.CopyRange(offset, part);
            Assert.True(whole.AsSpan((int)offset, length).SequenceEqual(part), $"range {offset}+{length}");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => source.CopyRange(whole.Length - 1, new byte[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => source.CopyRange(-1, new byte[1]));
    }

    /// <summary>
    /// f32 values around every f16 rounding decision: each f16 magnitude, the midpoints to its
    /// neighbour and one f32 ulp either side of them, both signs; then the overflow threshold
    /// and values far below the smallest subnormal.
    /// </summary>
    private static List<float> HalfBoundaries()
    {
        var values = new List<float>();
        for (int h = 0; h < 0x7C00; h++)
        {
            float lo = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float hi = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            float mid = (lo + hi) / 2; // exact: both are f16 values, their mean fits f32
            foreach (float v in new[] { lo, mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid) })
            {
                values.Add(v);
                values.Add(-v);
            }
        }
        values.AddRange([65504f, 65519.996f, 65520f, 1e6f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, 1e-10f, -1e-30f, float.Epsilon, 0f, -0f]);
        var random = new Random(17);
        for (int i = 0; i < 100_000; i++)
        {
            float f = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(1L << 32));
            if (float.IsFinite(f)) values.Add(f);
        }
        return values;
    }

    [Fact]
    public void RegisterNarrowingToHalfIsExactlyTheCast()
    {
        var values = HalfBoundaries();
        while (values.Count % 16 != 0) values.Add(1f);
        var input = values.ToArray();
        for (int i = 0; i < input.Length; i += 16)
        {
            var wide = NarrowVectors.ToHalfBits(Vector512.Create(input.AsSpan(i, 16)));
            var narrow = NarrowVectors.ToHalfBits(Vector256.Create(input.AsSpan(i, 8)));
            for (int j = 0; j < 16; j++)
            {
                ushort expected = BitConverter.HalfToUInt16Bits((Half)input[i + j]);
                Assert.True(expected == wide[j], $"{input[i + j]:R} (0x{BitConverter.SingleToUInt32Bits(input[i + j]):X8}): 0x{wide[j]:X4}, (Half) gives 0x{expected:X4}");
                if (j < 8) Assert.Equal(expected, narrow[j]);
            }
        }
    }

    [Fact]
    public void RegisterNarrowingToBFloat16IsFloatConverts()
    {
        var random = new Random(23);
        var input = new float[1 << 16];
        for (int i = 0; i < input.Length; i++)
        {
            // Half of them exact ties (low 16 bits 0x8000), where even-rounding decides.
            uint bits = (uint)random.NextInt64(1L << 32);
            if (i % 2 == 0) bits = (bits & 0xFFFF0000) | 0x8000;
            float f = BitConverter.UInt32BitsToSingle(bits);
            input[i] = float.IsFinite(f) ? f : 1f;
        }
        for (int i = 0; i < input.Length; i += 16)
        {
            var wide = NarrowVectors.ToBFloat16Bits(Vector512.Create(input.AsSpan(i, 16)));
            var narrow = NarrowVectors.ToBFloat16Bits(Vector256.Create(input.AsSpan(i, 8)));
            for (int j = 0; j < 16; j++)
            {
                Assert.Equal(FloatConvert.SingleToBF16(input[i + j]), wide[j]);
                if (j < 8) Assert.Equal(FloatConvert.SingleToBF16(input[i + j]), narrow[j]);
            }
        }
    }
}
