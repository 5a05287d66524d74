using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;

namespace MobileLlmConvert.Tests.Conversion;

/// <summary>Quantization spread over row blocks on every core gives the bytes of one row at a time.</summary>
public class ParallelConversionTests
{
    private const int Rows = 3001; // several 1 MiB row blocks and a short last one
    private const int Cols = 256;

    private static float[] Values(ulong seed)
    {
        var rng = new SplitMix64(seed);
        var v = new float[Rows * Cols];
        for (int i = 0; i < v.Length; i++) v[i] = rng.NextGaussian() * (1 + i % 7);
        return v;
    }

    private static ModelIr OneMatrix(float[] values, ElementType type)
    {
        var bytes = new byte[values.Length * type.Info().BlockBytes];
        FloatConvert.FromSingle(values, type, bytes);
        var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama }, Formats.TensorNames.HuggingFace);
        // A stand-in for one block's down projection: shape and bytes of our own, same key.
        var key = ir.Steps[0].Down;
        var big = new Tensor(key, [Rows, Cols], type, new MemorySource(bytes));
        return ir with { Tensors = ir.Tensors.Select(t => t.Name == key ? big : t).ToList(), Config = ir.Config };
    }

    [Theory]
    [InlineData("q4", ElementType.BF16)]
    [InlineData("q8", ElementType.F32)]
    [InlineData("q4a", ElementType.F16)]
    public void EveryRowIsQuantizedExactlyAsAlone(string scheme, ElementType sourceType)
    {
        var values = Values(11);
        var ir = OneMatrix(values, sourceType);
        var policy = QuantPolicy.Parse(scheme, 32, [], false, QuantRounding.Search);
        var key = ir.Steps[0].Down;
        var converted = new QuantizePass(policy).Run(ir).Ir[key];

        var expected = new byte[converted.ByteLength];
        int rowBytes = (int)(converted.ByteLength / Rows);
        int srcRowBytes = Cols * sourceType.Info().BlockBytes;
        var source = ir[key].Source.Read();
        var row = new float[Cols];
        for (int r = 0; r < Rows; r++)
        {
            FloatConvert.ToSingle(source.Slice(r * srcRowBytes, srcRowBytes), sourceType, row);
            QuantOps.Quantize(converted.Type, row, expected.AsSpan(r * rowBytes, rowBytes), QuantRounding.Search);
        }
        Assert.True(expected.AsSpan().SequenceEqual(converted.Source.ToArray()));
    }

    [Fact]
    public void TheFirstNonFiniteRowIsNamedWhicheverBlockFindsOneFirst()
    {
        var values = Values(12);
        values[2900 * Cols + 5] = float.PositiveInfinity; // a late block
        values[17 * Cols + 200] = float.NaN;              // the first block
        values[1500 * Cols + 9] = float.NegativeInfinity; // a middle block
        var ir = OneMatrix(values, ElementType.F32);
        var converted = new QuantizePass(QuantPolicy.Parse("q8", 32, [], false, QuantRounding.Search)).Run(ir).Ir[ir.Steps[0].Down];

        var e = Assert.Throws<InvalidDataException>(() => converted.Source.ToArray());
        Assert.Equal($"tensor {ir.Steps[0].Down}: row 17 column 200 holds NaN; refusing to quantize a non-finite value to q8_0", e.Message);
    }
    [Theory]
    [InlineData("q4")]
    [InlineData("f16")]
    [InlineData("f32")]
    public void AnyRunOfRowsIsConvertedAsInTheWholeTensor(string scheme)
    {
        var ir = OneMatrix(Values(13), ElementType.BF16);
        var key = ir.Steps[0].Down;
        var converted = new QuantizePass(QuantPolicy.Parse(scheme, 32, [], false, QuantRounding.Search)).Run(ir).Ir[key].Source;
        var whole = converted.ToArray();
        int rowBytes = whole.Length / Rows;

        // A writer streams it in row chunks (TensorPipeline.RunChunks); a hash reads any cut.
        Assert.True(converted.CanCopyRanges);
        Assert.Equal(rowBytes, converted.RangeAlignment);
        var rows = new byte[500 * rowBytes];
        converted.CopyRange(1234L * rowBytes, rows);
        Assert.True(whole.AsSpan(1234 * rowBytes, rows.Length).SequenceEqual(rows));
        var cut = new byte[3 * rowBytes + 5];
        converted.CopyRange(2990L * rowBytes + 7, cut);
        Assert.True(whole.AsSpan(2990 * rowBytes + 7, cut.Length).SequenceEqual(cut));
    }

    [Fact]
    public void ANonFiniteValueInARangeIsNamedByItsRowInTheTensor()
    {
        var values = Values(14);
        values[2900 * Cols + 5] = float.NaN;
        var ir = OneMatrix(values, ElementType.F32);
        var key = ir.Steps[0].Down;
        var converted = new QuantizePass(QuantPolicy.Parse("q8", 32, [], false, QuantRounding.Search)).Run(ir).Ir[key].Source;
        int rowBytes = converted.RangeAlignment;

        converted.CopyRange(0, new byte[2900 * rowBytes]);
        var e = Assert.Throws<InvalidDataException>(() => converted.CopyRange(2800L * rowBytes, new byte[150 * rowBytes]));
        Assert.Equal($"tensor {key}: row 2900 column 5 holds NaN; refusing to quantize a non-finite value to q8_0", e.Message);
    }
}
