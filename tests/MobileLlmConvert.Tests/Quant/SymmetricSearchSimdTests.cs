using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Tests.Quant;

/// <summary>
/// The sixteen-blocks-at-once default rounding (<see cref="SymmetricSearchSimd"/>) against the scalar
/// reference (<see cref="QuantOpsNaive"/>, <see cref="QuantRounding.Search"/>) byte for byte, for every
/// type that takes it, on random rows and on the rows where float details decide: ties of the largest
/// magnitude, exact .5 roundings, zero blocks, one outlier, subnormals, tiny blocks, huge values. The
/// batch itself is called (the 512-bit vectors run in software where the CPU lacks them), so these
/// tests check the arithmetic on any machine.
/// </summary>
public class SymmetricSearchSimdTests
{
    public static TheoryData<ElementType> SearchedSymmetricTypes() => [ElementType.Q4_0, ElementType.Q4_G64, ElementType.Q4_G128, ElementType.Q5_0];

    /// <summary>Rows of 19 blocks (a batch of 16, then a partial one of 3), one kind of content per row.</summary>
    private static IEnumerable<(string Name, float[] Row)> Rows(int g)
    {
        int n = (SymmetricSearchSimd.Lanes + 3) * g;
        var rng = new Random(1234 + g);
        float[] Make(Func<int, float> f) => Enumerable.Range(0, n).Select(f).ToArray();
        yield return ("gaussian", QuantKernelTests.Gaussian(n, (ulong)g, 0.05f));
        yield return ("gaussian wide", QuantKernelTests.Gaussian(n, 7 + (ulong)g, 3f));
        // The largest magnitude appears twice with opposite signs (the first one sets the scale's sign).
        yield return ("ties of the largest magnitude", Make(i => (i % 7) switch { 0 => 1f, 3 => -1f, _ => (float)(rng.NextDouble() - 0.5) }));
        // Multiples of 1/16 make x/d land exactly on .5 for many candidate scales.
        yield return ("exact halves", Make(i => (rng.Next(-32, 33)) / 16f));
        yield return ("small integers", Make(i => rng.Next(-8, 8)));
        yield return ("zeros", new float[n]);
        yield return ("zero blocks among others", Make(i => (i / g) % 3 == 1 ? 0f : (float)(rng.NextDouble() - 0.5)));
        yield return ("negative zeros", Make(i => -0f));
        yield return ("one outlier per block", Make(i => i % g == 5 ? 40f : (float)(rng.NextDouble() - 0.5) * 0.01f));
        yield return ("constant blocks", Make(i => 0.25f * (1 + i / g)));
        yield return ("subnormals beside normals", Make(i => i % 3 == 0 ? 1e-40f * rng.Next(-100, 100) : (float)(rng.NextDouble() - 0.5) * 1e-3f));
        yield return ("subnormal blocks", Make(i => 1e-42f * rng.Next(-100, 100)));
        yield return ("tiny blocks", Make(i => 1e-33f * (float)(rng.NextDouble() - 0.5)));
        yield return ("at the threshold", Make(i => i % g == 0 ? SymmetricSearchSimd.MinMagnitude : 1e-31f));
        yield return ("f16 edge scales", Make(i => (float)(rng.NextDouble() - 0.5) * 1e-6f));
        yield return ("huge", Make(i => (float)(rng.NextDouble() - 0.5) * 1e30f));
    }

    [Theory]
    [MemberData(nameof(SearchedSymmetricTypes))]
    public void Sixteen_block_search_writes_the_scalar_bytes(ElementType type)
    {
        var info = type.Info();
        int g = info.BlockValues;
        foreach (var (name, row) in Rows(g))
        {
            var expected = new byte[info.BlockBytes * (row.Length / g)];
            QuantOpsNaive.Quantize(type, row, expected, QuantRounding.Search);
            var actual = new byte[expected.Length];
            Batches(type, row, actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{type} {name}: first difference at byte {FirstDifference(expected, actual)}");

            var fast = new byte[expected.Length];
            QuantOps.Quantize(type, row, fast, QuantRounding.Search);
            Assert.True(expected.AsSpan().SequenceEqual(fast), $"{type} {name} through QuantOps: first difference at byte {FirstDifference(expected, fast)}");
        }
    }

    [Theory]
    [MemberData(nameof(SearchedSymmetricTypes))]
    public void Ordinary_batches_are_taken_and_only_the_overflowing_edge_is_declined(ElementType type)
    {
        int g = type.Info().BlockValues, nmax = type == ElementType.Q5_0 ? 16 : 8;
        var scales = new float[SymmetricSearchSimd.Lanes];
        var levels = new int[SymmetricSearchSimd.Lanes * g];
        Assert.True(SymmetricSearchSimd.Batch(QuantKernelTests.Gaussian(SymmetricSearchSimd.Lanes * g, 3, 0.05f), g, nmax, scales, levels));
        Assert.True(SymmetricSearchSimd.Batch(new float[SymmetricSearchSimd.Lanes * g], g, nmax, scales, levels));
        Assert.True(SymmetricSearchSimd.Batch(QuantKernelTests.Gaussian(3 * g, 6, 0.05f), g, nmax, scales, levels));
        var tiny = QuantKernelTests.Gaussian(SymmetricSearchSimd.Lanes * g, 4, 0.05f);
        tiny[g + 1] = 1e-35f;
        for (int j = g; j < 2 * g; j++) tiny[j] = j == g + 1 ? 1e-35f : 0f;
        Assert.False(SymmetricSearchSimd.Batch(tiny, g, nmax, scales, levels));
        var inf = QuantKernelTests.Gaussian(SymmetricSearchSimd.Lanes * g, 5, 0.05f);
        inf[3] = float.PositiveInfinity;
        Assert.False(SymmetricSearchSimd.Batch(inf, g, nmax, scales, levels));
    }

    [Theory]
    [InlineData(ElementType.Q8_0)]
    [InlineData(ElementType.Q8_G64)]
    [InlineData(ElementType.Q8_G128)]
    public void Vector_round_to_nearest_of_int8_writes_the_scalar_bytes(ElementType type)
    {
        var info = type.Info();
        int g = info.BlockValues;
        var rng = new Random(77);
        // amax 127 makes the multiplier exactly 1, so every x.5 is a tie that must round away from zero.
        var halves = Enumerable.Range(0, 4 * g).Select(i => i % g == 0 ? 127f : rng.Next(-127, 127) + 0.5f).ToArray();
        var justBelow = Enumerable.Range(0, 4 * g).Select(i => i % g == 0 ? -127f : MathF.BitDecrement(rng.Next(0, 127) + 0.5f)).ToArray();
        foreach (var (name, row) in Rows(g).Append(("halves", halves)).Append(("just below halves", justBelow)))
        {
            var expected = new byte[info.BlockBytes * (row.Length / g)];
            QuantOpsNaive.Quantize(type, row, expected, QuantRounding.Rtn);
            var actual = new byte[expected.Length];
            Assert.True(Int8Sym.TryQuantizeRow(row, actual, g));
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{type} {name}: first difference at byte {FirstDifference(expected, actual)}");
        }
    }

    [Fact]
    public void Every_type_and_rounding_writes_the_same_bytes_through_QuantOps_as_the_reference()
    {
        foreach (var row in ElementTypes.All)
        {
            if (!row.IsQuantized) continue;
            int n = (2 * SymmetricSearchSimd.Lanes + 1) * row.BlockValues;
            var x = QuantKernelTests.Gaussian(n, 99, 0.05f);
            foreach (var rounding in Enum.GetValues<QuantRounding>())
            {
                var expected = new byte[row.BlockBytes * (n / row.BlockValues)];
                var actual = new byte[expected.Length];
                QuantOpsNaive.Quantize(row.Type, x, expected, rounding);
                QuantOps.Quantize(row.Type, x, actual, rounding);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{row.Type} {rounding}: first difference at byte {FirstDifference(expected, actual)}");
            }
        }
    }

    private static void Batches(ElementType type, float[] row, byte[] dst) => Action(type)(row, dst);

    private static Action<float[], byte[]> Action(ElementType type) => type switch
    {
        ElementType.Q4_0 => (r, d) => Kernel<BlockQ4_0>(type).QuantizeSymmetricBatches(r, d),
        ElementType.Q4_G64 => (r, d) => Kernel<BlockQ4_G64>(type).QuantizeSymmetricBatches(r, d),
        ElementType.Q4_G128 => (r, d) => Kernel<BlockQ4_G128>(type).QuantizeSymmetricBatches(r, d),
        ElementType.Q5_0 => (r, d) => Kernel<BlockQ5_0>(type).QuantizeSymmetricBatches(r, d),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a searched symmetric type"),
    };

    private static QuantKernel<T> Kernel<T>(ElementType type) where T : unmanaged, IQuantBlock<T> => (QuantKernel<T>)type.Info().Kernel!;

    private static int FirstDifference(byte[] a, byte[] b)
    {
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] != b[i]) return i;
        }
        return -1;
    }
}
