using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.Formats.Onnx.Standard;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>
/// The standard profile's weight encoding: ONNX's published layouts (INT4/UINT4 packed low nibble first
/// in row-major order, matrices stored [in, out], one f16 scale per block along axis 0), the exact inverse
/// the reader uses, and the refusal of types DequantizeLinear cannot express.
/// </summary>
public class StandardWeightsTests
{
    private static Tensor Ramp(ElementType type, int rows, int cols)
    {
        var values = new float[rows * cols];
        for (int i = 0; i < values.Length; i++) values[i] = MathF.Sin(i * 0.37f) * (1 + i % 7);
        if (type == ElementType.F32) return new Tensor("w", [rows, cols], type, new MemorySource(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
        if (type == ElementType.F16)
        {
            var halves = values.Select(v => (Half)v).ToArray();
            return new Tensor("w", [rows, cols], type, new MemorySource(System.Runtime.InteropServices.MemoryMarshal.AsBytes(halves.AsSpan()).ToArray()));
        }
        var info = type.Info();
        var bytes = new byte[type.ByteSize([rows, cols])!.Value];
        for (int r = 0; r < rows; r++) info.RequireKernel().Quantize(values.AsSpan(r * cols, cols), bytes.AsSpan(r * (cols / info.BlockValues) * info.BlockBytes, cols / info.BlockValues * info.BlockBytes), QuantRounding.Rtn);
        return new Tensor("w", [rows, cols], type, new MemorySource(bytes));
    }

    private static Dictionary<string, byte[]> Fill(IReadOnlyList<OnnxInitializer> parts) =>
        parts.ToDictionary(p => p.Name, p => { var b = new byte[p.ByteLength]; p.Fill(b); return b; });

    public static TheoryData<ElementType> Storable() =>
        [.. ElementTypes.All.Where(r => StandardProfile.Instance.CannotStore(r.Type) is null && r.Type != ElementType.BF16).Select(r => r.Type)];

    [Theory]
    [MemberData(nameof(Storable))]
    public void Decode_inverts_Encode_byte_for_byte(ElementType type)
    {
        var t = Ramp(type, 6, 256);
        var parts = StandardProfile.Instance.Encode(t, "x");
        var bytes = Fill(parts);
        var back = new byte[t.ByteLength];
        StandardProfile.Instance.Decode("x", type, t.Shape, name => bytes[name], back);
        Assert.Equal(t.Source.Read().ToArray(), back);
        Assert.Equal([256L, 6L], parts[0].Dims);
    }

    [Fact]
    public void Q4_0_codes_are_int4_q_minus_8_in_row_major_in_out_order_with_f16_scales()
    {
        var t = Ramp(ElementType.Q4_0, 3, 64);
        var parts = StandardProfile.Instance.Encode(t, "w");
        Assert.Equal(["w", "w.scales"], parts.Select(p => p.Name));
        Assert.Equal(DataType.Int4, parts[0].Type);
        Assert.Equal(DataType.Float16, parts[1].Type);
        Assert.Equal([2L, 3L], parts[1].Dims);
        var bytes = Fill(parts);
        Assert.Equal(64 * 3 / 2, bytes["w"].Length);
        var ir = t.Source.Read();
        var expected = new float[64];
        for (int n = 0; n < 3; n++)
        {
            t.Type.Info().RequireKernel().Dequantize(ir.Slice(n * 2 * 18, 2 * 18), expected);
            for (int k = 0; k < 64; k++)
            {
                int flat = k * 3 + n;
                int nib = (flat & 1) == 0 ? bytes["w"][flat / 2] & 0x0F : bytes["w"][flat / 2] >> 4;
                int q = nib >= 8 ? nib - 16 : nib; // two's complement int4
                float d = (float)BitConverter.ToHalf(bytes["w.scales"], ((k / 32) * 3 + n) * 2);
                Assert.Equal(expected[k], q * d);
            }
        }
    }

    [Fact]
    public void Q4_1_stores_codes_scales_and_mins_that_rebuild_q_d_plus_m()
    {
        var t = Ramp(ElementType.Q4_1_G64, 2, 128);
        var parts = StandardProfile.Instance.Encode(t, "w");
        Assert.Equal(["w", "w.scales", "w.mins"], parts.Select(p => p.Name));
        Assert.Equal(DataType.Uint4, parts[0].Type);
        var bytes = Fill(parts);
        var expected = new float[128];
        for (int n = 0; n < 2; n++)
        {
            t.Type.Info().RequireKernel().Dequantize(t.Source.Read().Slice(n * 2 * 36, 2 * 36), expected);
            for (int k = 0; k < 128; k++)
            {
                int flat = k * 2 + n;
                int q = (flat & 1) == 0 ? bytes["w"][flat / 2] & 0x0F : bytes["w"][flat / 2] >> 4;
                int s = ((k / 64) * 2 + n) * 2;
                Assert.Equal(expected[k], q * (float)BitConverter.ToHalf(bytes["w.scales"], s) + (float)BitConverter.ToHalf(bytes["w.mins"], s));
            }
        }
    }

    [Theory]
    [InlineData(ElementType.Q5_0)]
    [InlineData(ElementType.Q5_1)]
    [InlineData(ElementType.Q4_K)]
    [InlineData(ElementType.Q6_K)]
    public void Types_without_an_ai_onnx_form_are_refused_by_name(ElementType type)
    {
        var why = StandardProfile.Instance.CannotStore(type);
        Assert.NotNull(why);
        Assert.StartsWith(type.Info().Name + " has no ai.onnx form", why);
    }
}
