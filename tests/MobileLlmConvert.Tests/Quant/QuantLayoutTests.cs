using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Tests.Quant;

/// <summary>
/// Bytes of hand-computed blocks against ggml's published layouts (ggml/src/ggml-common.h, ggml/src/ggml-quants.c). Every
/// expected byte below was worked out by hand from the formulas, not produced by the code under test.
/// </summary>
public class QuantLayoutTests
{
    [Fact]
    public void Every_quantized_table_row_has_a_block_struct_of_its_size()
    {
        QuantBlocks.AssertSizes();
        Assert.Equal(34, QuantBlocks.StructSize(ElementType.Q8_0));
        Assert.Equal(66, QuantBlocks.StructSize(ElementType.Q8_G64));
        Assert.Equal(130, QuantBlocks.StructSize(ElementType.Q8_G128));
        Assert.Equal(18, QuantBlocks.StructSize(ElementType.Q4_0));
        Assert.Equal(34, QuantBlocks.StructSize(ElementType.Q4_G64));
        Assert.Equal(66, QuantBlocks.StructSize(ElementType.Q4_G128));
        Assert.Equal(20, QuantBlocks.StructSize(ElementType.Q4_1));
        Assert.Equal(36, QuantBlocks.StructSize(ElementType.Q4_1_G64));
        Assert.Equal(68, QuantBlocks.StructSize(ElementType.Q4_1_G128));
        // ggml-common.h static_asserts: block_q5_0 22, block_q5_1 24, block_q4_K 144, block_q6_K 210 bytes.
        Assert.Equal(22, QuantBlocks.StructSize(ElementType.Q5_0));
        Assert.Equal(24, QuantBlocks.StructSize(ElementType.Q5_1));
        Assert.Equal(144, QuantBlocks.StructSize(ElementType.Q4_K));
        Assert.Equal(210, QuantBlocks.StructSize(ElementType.Q6_K));
        foreach (var row in ElementTypes.All)
        {
            if (row.IsQuantized) Assert.Equal(row.BlockBytes, QuantBlocks.StructSize(row.Type));
        }
        var e = Assert.Throws<ArgumentException>(() => QuantBlocks.StructSize(ElementType.F16));
        Assert.Equal("f16 has no block struct", e.Message);
    }

    // x[0] = -127 sets amax = 127, so d = 1 (f16 0x3C00) and q = round(x) half away from zero:
    // x[j] = 8j - 126.5: -118.5 -> -119 ... -6.5 -> -7, then 1.5 -> 2 ... 121.5 -> 122 (round-to-even would give -118, 2, ...).
    private static readonly sbyte[] Q8RampQuants =
    [
        -127, -119, -111, -103, -95, -87, -79, -71, -63, -55, -47, -39, -31, -23, -15, -7,
        2, 10, 18, 26, 34, 42, 50, 58, 66, 74, 82, 90, 98, 106, 114, 122,
    ];

    [Fact]
    public void Q8_0_ramp_block_bytes_are_ggml_block_q8_0()
    {
        var x = new float[32];
        x[0] = -127f;
        for (int j = 1; j < 32; j++) x[j] = 8 * j - 126.5f;
        var expected = new byte[34];
        expected[0] = 0x00; expected[1] = 0x3C; // f16 1.0, little-endian
        for (int j = 0; j < 32; j++) expected[2 + j] = (byte)Q8RampQuants[j];
        AssertBoth(ElementType.Q8_0, x, expected);
    }

    [Fact]
    public void Q8_0_scale_is_f16_of_amax_over_127_and_quants_use_the_f32_scale()
    {
        // amax = 1: d = 1/127 = 0.0078740157 -> f16 2^-7 (1 + 8/1024) = 0x2008.
        // x[1]·127 = 100.497 rounds to 100 with the f32 scale; dividing by the stored f16 scale instead
        // (0.00787353515625) would give 100.503 -> 101.
        var x = new float[32];
        x[0] = 1f;
        x[1] = 100.497f / 127f;
        x[2] = -0.5f; // -63.5 -> -64 (away from zero)
        var q = new byte[34];
        QuantOps.Quantize(ElementType.Q8_0, x, q);
        Assert.Equal([0x08, 0x20], q[..2]);
        Assert.Equal(127, (sbyte)q[2]);
        Assert.Equal(100, (sbyte)q[3]);
        Assert.Equal(-64, (sbyte)q[4]);
        Assert.Equal(0, q[5]);
    }

    // Nibbles of floor((j + 1) / 2) for j < 31 and 15 (clamped from 16) for j = 31:
    // byte k = value k | value k+16 << 4.
    private static readonly byte[] Q4RampNibbles =
        [0x80, 0x91, 0x91, 0xA2, 0xA2, 0xB3, 0xB3, 0xC4, 0xC4, 0xD5, 0xD5, 0xE6, 0xE6, 0xF7, 0xF7, 0xF8];

    [Fact]
    public void Q4_0_ramp_block_bytes_are_ggml_block_q4_0()
    {
        // x[j] = j/2 - 8: the first value of largest magnitude is -8, so d = -8 / -8 = 1 (0x3C00);
        // q = min(15, trunc(x + 8.5)) = floor((j+1)/2), and x[31] = 7.5 -> 16 is clamped to 15.
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j / 2f - 8f;
        AssertBoth(ElementType.Q4_0, x, [0x00, 0x3C, .. Q4RampNibbles]);
    }

    [Fact]
    public void Q4_0_scale_takes_the_sign_of_the_largest_magnitude_value()
    {
        // x[j] = 8 - j/2: largest magnitude is +8, so d = 8 / -8 = -1 (f16 0xBC00); x/d = j/2 - 8 as above.
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = 8f - j / 2f;
        AssertBoth(ElementType.Q4_0, x, [0x00, 0xBC, .. Q4RampNibbles]);
    }

    [Fact]
    public void Q4_1_ramp_block_bytes_are_ggml_block_q4_1()
    {
        // x[j] = j/2 - 1 (j < 31), x[31] = 14: min -1, max 14, d = 15/15 = 1 (0x3C00), m = -1 (0xBC00);
        // q = min(15, trunc(x + 1 + 0.5)) = floor((j+1)/2), x[31] -> trunc(15.5) = 15.
        var x = new float[32];
        for (int j = 0; j < 31; j++) x[j] = j / 2f - 1f;
        x[31] = 14f;
        AssertBoth(ElementType.Q4_1, x, [0x00, 0x3C, 0x00, 0xBC, .. Q4RampNibbles]);
    }

    [Theory]
    [InlineData(0f, -0f, 0x0000)]
    [InlineData(-0f, 0f, 0x8000)]
    public void Q4_1_min_is_the_first_smallest_value_as_ggml_compares(float first, float second, int mBits)
    {
        // ggml keeps the first of equal minima (v < min); MathF.Min would prefer -0 and write m = 0x8000 for both.
        var x = new float[32];
        x[0] = first;
        x[1] = second;
        for (int j = 2; j < 32; j++) x[j] = j % 16;
        var bytes = new byte[20];
        QuantOps.Quantize(ElementType.Q4_1, x, bytes);
        Assert.Equal(mBits, bytes[2] | bytes[3] << 8);
        Assert.Equal(0x3C00, bytes[0] | bytes[1] << 8); // d = 15/15
    }

    [Fact]
    public void Q4_G64_splits_nibbles_at_32()
    {
        // x[j] = (j mod 16) - 8 with x[0] = -8 first: d = 1, q = j mod 16; byte k = q[k] | q[k+32] << 4 = (k mod 16)·0x11.
        var x = new float[64];
        for (int j = 0; j < 64; j++) x[j] = j % 16 - 8;
        var expected = new byte[34];
        expected[1] = 0x3C;
        for (int k = 0; k < 32; k++) expected[2 + k] = (byte)(k % 16 * 0x11);
        AssertBoth(ElementType.Q4_G64, x, expected);
    }

    [Fact]
    public void Q4_1_G128_splits_nibbles_at_64()
    {
        // x[j] = j mod 16 in the first half, 15 - j mod 16 in the second: min 0, max 15, d = 1, m = 0;
        // byte k = q[k] | q[k+64] << 4 = (k mod 16) | (15 - k mod 16) << 4 (a split at 32 would repeat the low nibble).
        var x = new float[128];
        for (int j = 0; j < 128; j++) x[j] = j < 64 ? j % 16 : 15 - j % 16;
        var expected = new byte[68];
        expected[1] = 0x3C;
        for (int k = 0; k < 64; k++) expected[4 + k] = (byte)((int)x[k] | (int)x[k + 64] << 4);
        Assert.Equal(0xE1, expected[4 + 1]);
        AssertBoth(ElementType.Q4_1_G128, x, expected);
    }

    [Fact]
    public void All_zero_block_has_zero_scale_and_dequantizes_to_zero()
    {
        // Q4_0's d is 0 / -8 = -0, f16 0x8000, exactly as ggml writes it; the nibbles are all 8 (x = 0).
        foreach (var (type, header, quant) in new[] { (ElementType.Q8_0, 0x0000, 0x00), (ElementType.Q4_0, 0x8000, 0x88), (ElementType.Q4_1, 0x0000, 0x00) })
        {
            var bytes = new byte[type.Info().BlockBytes];
            QuantOps.Quantize(type, new float[32], bytes);
            Assert.Equal(header, bytes[0] | bytes[1] << 8);
            Assert.All(bytes[(type == ElementType.Q4_1 ? 4 : 2)..], b => Assert.Equal(quant, b));
            var back = new float[32];
            QuantOps.Dequantize(type, bytes, back);
            Assert.All(back, v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void Quantizing_values_that_are_not_whole_blocks_names_the_type()
    {
        var e = Assert.Throws<ArgumentException>(() => QuantOps.Quantize(ElementType.Q4_G64, new float[96], new byte[64]));
        Assert.Equal("96 values are not whole q4_g64 blocks of 64", e.Message);
        var f = Assert.Throws<ArgumentException>(() => QuantOps.DotFast(ElementType.Q8_0, new byte[33], new byte[40]));
        Assert.Equal("row: 1 q8_0 blocks need 34 bytes, span has 33", f.Message);
    }

    private static void AssertBoth(ElementType type, float[] x, byte[] expected)
    {
        var fast = new byte[expected.Length];
        var naive = new byte[expected.Length];
        QuantOps.Quantize(type, x, fast);
        QuantOpsNaive.Quantize(type, x, naive);
        Assert.Equal(expected, fast);
        Assert.Equal(expected, naive);
    }
}
