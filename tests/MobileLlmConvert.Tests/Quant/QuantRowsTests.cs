using System.Runtime.Intrinsics;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Tests.Quant;

/// <summary>
/// The eight-rows-per-pass decode kernel (<see cref="QuantRowsAvx2"/>) for the int8 / int4 families:
/// held to the scalar reference at every level and group size, for row counts around its groups of
/// eight, with a row's result independent of which rows share its group (so the executor's split of
/// rows among threads never changes a logit), and its f16 scale conversion equal to .NET's for every
/// bit pattern.
/// </summary>
public class QuantRowsTests
{
    public static TheoryData<ElementType, QuantIsaLevel> IntTypesAndLevels()
    {
        var data = new TheoryData<ElementType, QuantIsaLevel>();
        foreach (var row in ElementTypes.All)
        {
            if (row.Kind is not (QuantKind.Int8Symmetric or QuantKind.Int4Symmetric or QuantKind.Int4Asymmetric)) continue;
            foreach (var level in Enum.GetValues<QuantIsaLevel>())
            {
                if (level <= QuantIsa.Process) data.Add(row.Type, level);
            }
        }
        return data;
    }

    [Fact]
    public void Half_to_single_conversion_equals_the_runtime_for_every_bit_pattern()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        var bits = new int[8];
        for (int h = 0; h < 65536; h += 8)
        {
            for (int k = 0; k < 8; k++) bits[k] = (h + k) | 0x5A5A0000; // the high half (Q4_1's m) must be ignored
            var got = MobileLlmConvert.Core.Numerics.HalfVectors.ToSingle(Vector256.Create(bits).AsUInt32());
            for (int k = 0; k < 8; k++)
            {
                float want = (float)BitConverter.UInt16BitsToHalf((ushort)(h + k));
                float have = got.GetElement(k);
                if (float.IsNaN(want)) Assert.True(float.IsNaN(have), $"f16 0x{h + k:X4}: {have}, expected NaN");
                else Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(have), $"f16 0x{h + k:X4}: {have}, expected {want}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(IntTypesAndLevels))]
    public void Row_counts_around_groups_of_eight_agree_with_the_reference(ElementType type, QuantIsaLevel level)
    {
        int g = type.Info().BlockValues;
        foreach (int blocks in new[] { 1, 3, 48 })
        {
            int n = blocks * g;
            foreach (int rows in new[] { 1, 7, 8, 9, 17, 23 })
            {
                var (w, rowBytes) = Matrix(type, rows, n, (ulong)(rows * 1000 + blocks));
                var x = QuantKernelTests.Gaussian(n, 7 + (ulong)n);
                var xq = new byte[QuantOps.ActivationBytes(type, n)];
                QuantOpsNaive.QuantizeActivations(type, x, xq);
                var y = new float[rows];
                using (QuantIsa.Force(level)) QuantOps.DotFastRows(type, w, rowBytes, xq, y);
                var deq = new float[n];
                for (int r = 0; r < rows; r++)
                {
                    var row = w.AsSpan(r * rowBytes, rowBytes);
                    QuantOpsNaive.Dequantize(type, row, deq);
                    double magnitude = 0;
                    for (int i = 0; i < n; i++) magnitude += Math.Abs(deq[i] * x[i]);
                    float naive = QuantOpsNaive.DotFast(type, row, xq);
                    Assert.True(Math.Abs(y[r] - naive) <= 1e-5 * magnitude,
                        $"{type} {level} {rows} rows x {blocks} blocks, row {r}: {y[r]} vs reference {naive} (Σ|wx| {magnitude})");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(IntTypesAndLevels))]
    public void A_rows_result_does_not_depend_on_how_the_rows_are_split(ElementType type, QuantIsaLevel level)
    {
        const int rows = 29;
        int n = 12 * type.Info().BlockValues;
        var (w, rowBytes) = Matrix(type, rows, n, 99);
        var x = QuantKernelTests.Gaussian(n, 5, 3f);
        var xq = new byte[QuantOps.ActivationBytes(type, n)];
        QuantOpsNaive.QuantizeActivations(type, x, xq);
        var whole = new float[rows];
        using (QuantIsa.Force(level))
        {
            QuantOps.DotFastRows(type, w, rowBytes, xq, whole);
            // Splits the executor could make: ranges that start off a multiple of eight and end anywhere.
            foreach (var (r0, r1) in new[] { (0, 5), (5, 13), (13, 29), (3, 4), (1, 28) })
            {
                var part = new float[r1 - r0];
                QuantOps.DotFastRows(type, w.AsSpan(r0 * rowBytes, (r1 - r0) * rowBytes), rowBytes, xq, part);
                Assert.Equal(whole[r0..r1], part);
            }
        }
    }

    [Fact]
    public void Turning_the_kernel_off_runs_the_per_row_kernel_within_the_same_tolerance()
    {
        var type = ElementType.Q4_0;
        const int rows = 16, n = 1536;
        var (w, rowBytes) = Matrix(type, rows, n, 3);
        var x = QuantKernelTests.Gaussian(n, 4);
        var xq = new byte[QuantOps.ActivationBytes(type, n)];
        QuantOpsNaive.QuantizeActivations(type, x, xq);
        var on = new float[rows];
        var off = new float[rows];
        using (QuantRowsAvx2.Force(true)) QuantOps.DotFastRows(type, w, rowBytes, xq, on);
        using (QuantRowsAvx2.Force(false)) QuantOps.DotFastRows(type, w, rowBytes, xq, off);
        for (int r = 0; r < rows; r++) Assert.True(Math.Abs(on[r] - off[r]) <= 1e-4f * (1 + Math.Abs(off[r])), $"row {r}: {on[r]} vs {off[r]}");
    }

    [Theory]
    [MemberData(nameof(IntTypesAndLevels))]
    public void Packed_panels_give_the_same_bits_as_the_rows_they_hold(ElementType type, QuantIsaLevel level)
    {
        using var _ = QuantIsa.Force(level);
        int g = type.Info().BlockValues;
        foreach (int blocks in new[] { 1, 5, 48 })
        {
            int n = blocks * g;
            const int rows = 24;
            var (w, rowBytes) = Matrix(type, rows, n, 40 + (ulong)blocks);
            var x = QuantKernelTests.Gaussian(n, 41 + (ulong)blocks, 2f);
            var xq = new byte[QuantOps.ActivationBytes(type, n)];
            QuantOps.QuantizeActivations(type, x, xq);
            var want = new float[rows];
            QuantOps.DotFastRows(type, w, rowBytes, xq, want);
            if (!QuantOps.CanPackPanels(type))
            {
                Assert.Equal(QuantIsaLevel.Scalar, level); // every SIMD level packs these kinds
                continue;
            }
            var packed = new byte[w.Length];
            QuantOps.PackPanels(type, w, rowBytes, n, rows / QuantOps.PanelRows, packed);
            Assert.NotEqual(w, packed); // reordered, not copied
            Assert.Equal(w.Order(), packed.Order()); // the same bytes
            var got = new float[rows];
            QuantOps.DotFastPanels(type, packed, n, xq, got);
            Assert.Equal(want, got);
            var middle = new float[8];
            QuantOps.DotFastPanels(type, packed.AsSpan(8 * rowBytes, 8 * rowBytes), n, xq, middle);
            Assert.Equal(want[8..16], middle);
        }
    }

    [Fact]
    public void Panel_entry_points_reject_spans_too_short_and_partial_panels()
    {
        var type = ElementType.Q4_0;
        if (!QuantOps.CanPackPanels(type)) return;
        const int n = 64, rowBytes = 36;
        var xq = new byte[QuantOps.ActivationBytes(type, n)];
        Assert.Throws<ArgumentException>(() => QuantOps.PackPanels(type, new byte[7 * rowBytes], rowBytes, n, 1, new byte[8 * rowBytes]));
        Assert.Throws<ArgumentException>(() => QuantOps.PackPanels(type, new byte[8 * rowBytes], rowBytes, n, 1, new byte[8 * rowBytes - 1]));
        Assert.Throws<ArgumentException>(() => QuantOps.DotFastPanels(type, new byte[8 * rowBytes], n, xq, new float[7]));
        Assert.Throws<ArgumentException>(() => QuantOps.DotFastPanels(type, new byte[16 * rowBytes - 1], n, xq, new float[16]));
        Assert.Throws<ArgumentException>(() => QuantOps.DotFastPanels(type, new byte[8 * rowBytes], 2 * n, xq, new float[8]));
    }

    /// <summary>Rows of Gaussian weights quantized to <paramref name="type"/>, one row apart in a fresh array.</summary>
    private static (byte[] Bytes, int RowBytes) Matrix(ElementType type, int rows, int n, ulong seed)
    {
        int rowBytes = checked((int)type.ByteSize([n])!.Value);
        var w = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++)
            QuantOps.Quantize(type, QuantKernelTests.Gaussian(n, seed * 131 + (ulong)r, 0.05f), w.AsSpan(r * rowBytes, rowBytes));
        return (w, rowBytes);
    }
}
