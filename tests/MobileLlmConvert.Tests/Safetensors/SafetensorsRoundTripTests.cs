using System.Buffers.Binary;
using System.Text;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Safetensors;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Safetensors;

public sealed class SafetensorsRoundTripTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(ElementType.F32)]
    [InlineData(ElementType.F16)]
    [InlineData(ElementType.BF16)]
    public void WriteThenReadGivesTheSameTensorsInTheSameOrder(ElementType dtype)
    {
        using var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, DType = dtype, HiddenSize = 32, IntermediateSize = 64 }, TensorNames.HuggingFace);
        string path = _dir.File("m.safetensors");
        SafetensorsWriter.Write(path, ir.Tensors);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(ir.Tensors.Select(t => t.Name), file.Entries.Select(e => e.Name));
        Assert.Equal("pt", file.Metadata["format"]);
        foreach (var t in ir.Tensors)
        {
            var back = file.GetTensor(t.Name);
            Assert.Equal(t.Shape, back.Shape);
            Assert.Equal(dtype, back.Type);
            Assert.True(t.Source.Read().SequenceEqual(back.Source.Read()), t.Name);
            Assert.IsType<MappedSource>(back.Source);
        }
    }

    [Fact]
    public void HeaderIsCompactPaddedWithSpacesToEightAndStartsWithMetadata()
    {
        var bytes = new byte[6];
        var tensor = new Tensor("x", [3], ElementType.F16, new MemorySource(bytes));
        var header = SafetensorsWriter.BuildHeader([tensor], SafetensorsWriter.PyTorchMetadata);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(header);
        Assert.Equal(0UL, n % 8);
        Assert.Equal((ulong)header.Length - 8, n);
        string json = Encoding.UTF8.GetString(header, 8, (int)n);
        const string expected = "{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}";
        Assert.Equal(expected + new string(' ', (int)n - expected.Length), json);
    }

    [Fact]
    public void OutputIsDeterministicAndComputedSourcesStream()
    {
        var values = new byte[16];
        for (int i = 0; i < values.Length; i++) values[i] = (byte)(i * 7);
        var computed = new Tensor("c", [4], ElementType.F32, new ComputedSource(16, d => values.CopyTo(d)));
        var memory = new Tensor("m", [2, 2], ElementType.F32, new MemorySource(values));
        string a = _dir.File("a.safetensors"), b = _dir.File("b.safetensors");
        SafetensorsWriter.Write(a, [computed, memory]);
        SafetensorsWriter.Write(b, [computed, memory]);
        Assert.Equal(System.IO.File.ReadAllBytes(a), System.IO.File.ReadAllBytes(b));
        using var file = SafetensorsFile.Open(a);
        Assert.Equal(values, file.GetTensor("c").Source.ToArray());
        Assert.Equal(values, file.GetTensor("m").Source.ToArray());
        Assert.Equal([2L, 2L], file.GetTensor("m").Shape);
    }

    [Fact]
    public void ZeroSizedAndScalarTensorsAreValid()
    {
        string path = _dir.File("z.safetensors");
        SafetensorsWriter.Write(path, [new Tensor("empty", [0, 4], ElementType.F32, new MemorySource(Array.Empty<byte>())),
            new Tensor("scalar", [], ElementType.F32, new MemorySource(new byte[4]))]);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(0, file.GetTensor("empty").ByteLength);
        Assert.Equal(4, file.GetTensor("scalar").ByteLength);
    }

    [Fact]
    public void DuplicateTensorNamesAreRefusedByTheWriter()
    {
        var t = new Tensor("x", [1], ElementType.F32, new MemorySource(new byte[4]));
        var e = Assert.Throws<ArgumentException>(() => SafetensorsWriter.BuildHeader([t, t], SafetensorsWriter.PyTorchMetadata));
        Assert.Equal("tensor x given twice", e.Message);
    }
}
