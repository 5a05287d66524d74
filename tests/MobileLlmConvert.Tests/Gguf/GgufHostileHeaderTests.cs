using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;

namespace MobileLlmConvert.Tests.Gguf;

/// <summary>One hand-built bad file per structural error kind (the parser's rules), each with its exact message.</summary>
public class GgufHostileHeaderTests
{
    private static void Fails(GgufBytes bytes, GgufError kind, string expectedAfterPath)
    {
        using var dir = GgufTestModels.TempDir();
        var path = bytes.WriteTo(dir);
        var e = Assert.Throws<GgufException>(() => GgufFile.ReadMetadata(path));
        Assert.Equal(kind, e.Kind);
        Assert.Equal($"{path}: {expectedAfterPath}", e.Message);
        CliAssert.RejectsWith(path, e.Message);
    }

    private static GgufBytes OneTensor(string name, ulong[] dims, uint type, ulong offset) =>
        GgufBytes.Header(1, 0).Tensor(name, dims, type, offset).Pad();

    [Fact]
    public void BadMagic() =>
        Fails(new GgufBytes().Raw("GGML"u8.ToArray()).Zeros(20), GgufError.BadMagic, "magic = 0x47474D4C: not a GGUF file (expected the bytes \"GGUF\")");

    [Fact]
    public void EmptyFileIsBadMagic() =>
        Fails(new GgufBytes(), GgufError.BadMagic, "magic = (empty): not a GGUF file (expected the bytes \"GGUF\")");

    [Fact]
    public void UnsupportedVersion() =>
        Fails(GgufBytes.Header(0, 0, version: 1), GgufError.UnsupportedVersion, "version = 1: supported versions are 2 and 3");

    [Fact]
    public void BigEndianVersionIsNamed() =>
        Fails(GgufBytes.Header(0, 0, version: 0x03000000), GgufError.UnsupportedVersion, "version = 50331648: a big-endian GGUF; only little-endian files are supported");

    [Fact]
    public void Truncated() =>
        Fails(GgufBytes.Header(0, 1).Str("general.architecture"), GgufError.Truncated, "general.architecture.type = 4 bytes at offset 52: file ends after 52 bytes");

    [Fact]
    public void DataSectionPastTheEndIsTruncated() =>
        Fails(GgufBytes.Header(1, 0).Tensor("t", [8], 0, 0), GgufError.Truncated, "data = 64: data section starts past the end of the file (57 bytes)");

    [Fact]
    public void TooManyTensorsForTheCap() =>
        Fails(GgufBytes.Header(1_000_000, 0), GgufError.TooManyTensors, "tensor_count = 1000000: cap is 65536 and 0 bytes left cannot hold that many");

    [Fact]
    public void TooManyTensorsForTheBytesLeft() =>
        Fails(GgufBytes.Header(100, 0).Zeros(64), GgufError.TooManyTensors, "tensor_count = 100: cap is 65536 and 64 bytes left cannot hold that many");

    [Fact]
    public void TooManyKeys() =>
        Fails(GgufBytes.Header(0, ulong.MaxValue), GgufError.TooManyKeys, "metadata_kv_count = 18446744073709551615: cap is 65536 and 0 bytes left cannot hold that many");

    [Fact]
    public void StringLongerThanTheFile() =>
        Fails(GgufBytes.Header(0, 1).U64(ulong.MaxValue).Zeros(16), GgufError.StringTooLong, "metadata[0].key.length = 18446744073709551615: cap is 16777216 bytes and 16 bytes are left");

    [Fact]
    public void StringLongerThanTheBytesLeft() =>
        Fails(GgufBytes.Header(0, 1).Str("k").U32((uint)GgufValueType.String).U64(100).Zeros(10), GgufError.StringTooLong, "k.length = 100: cap is 16777216 bytes and 10 bytes are left");

    [Fact]
    public void InvalidUtf8Key() =>
        Fails(GgufBytes.Header(0, 1).U64(2).Raw(0xFF, 0xFE).U32((uint)GgufValueType.UInt8).Raw(0), GgufError.InvalidString, "metadata[0].key = 0xFFFE: not valid UTF-8");

    [Fact]
    public void ArrayLengthTimesElementSizeAboveTheBytesLeft() =>
        Fails(GgufBytes.Header(0, 1).Str("a").U32((uint)GgufValueType.Array).U32((uint)GgufValueType.UInt64).U64(1000).Zeros(16),
            GgufError.ArrayTooLong, "a.length = 1000: UInt64 x 1000 needs at least 8000 bytes; cap is 16777216 elements and 16 bytes are left");

    [Fact]
    public void ArrayLengthThatWouldOverflow() =>
        Fails(GgufBytes.Header(0, 1).Str("a").U32((uint)GgufValueType.Array).U32((uint)GgufValueType.UInt64).U64(1UL << 62),
            GgufError.ArrayTooLong, "a.length = 4611686018427387904: UInt64 x 4611686018427387904 needs at least more than 2^63 bytes; cap is 16777216 elements and 0 bytes are left");

    [Fact]
    public void NestedArrayTooDeep() =>
        Fails(GgufBytes.Header(0, 1).Str("a").U32((uint)GgufValueType.Array).U32((uint)GgufValueType.Array).U64(1)
                .U32((uint)GgufValueType.Array).U64(1).U32((uint)GgufValueType.UInt8).U64(1).Raw(0),
            GgufError.NestedArrayTooDeep, "a[0] = depth 3: arrays nest at most 2 deep");

    [Fact]
    public void UnknownValueType() =>
        Fails(GgufBytes.Header(0, 1).Str("a").U32(13).Zeros(8), GgufError.UnknownValueType, "a.type = 13: not a GGUF metadata value type (0..12)");

    [Fact]
    public void DuplicateKey() =>
        Fails(GgufBytes.Header(0, 2).KvU32("x", 1).KvU32("x", 2), GgufError.DuplicateKey, "x = (second occurrence): key appears twice");

    [Fact]
    public void DuplicateTensor() =>
        Fails(GgufBytes.Header(2, 0).Tensor("t", [8], 0, 0).Tensor("t", [8], 0, 32).Pad().Zeros(64), GgufError.DuplicateTensor, "t = (second occurrence): tensor name appears twice");

    [Fact]
    public void TensorNameTooLong() =>
        Fails(OneTensor(new string('a', 64), [8], 0, 0).Zeros(32), GgufError.TensorNameTooLong, $"tensor_infos[0].name = {new string('a', 64)}: longer than ggml's 63-byte limit");

    [Fact]
    public void BadDimensionCount() =>
        Fails(GgufBytes.Header(1, 0).Str("t").U32(5).Zeros(64), GgufError.BadDimensionCount, "t.n_dims = 5: must be 1..4");

    [Fact]
    public void ZeroDimension() =>
        Fails(OneTensor("t", [0], 0, 0), GgufError.BadDimension, "t.dims[0] = 0: must be positive");

    [Fact]
    public void ElementCountOverflow() =>
        Fails(OneTensor("t", [1UL << 32, 1UL << 32], 0, 0), GgufError.BadDimension, "t.dims = [4294967296, 4294967296]: element count overflows 64 bits");

    [Fact]
    public void PartialBlock() =>
        Fails(OneTensor("t", [33], 8, 0), GgufError.BadDimension, "t.dims[0] = 33: innermost dimension must be whole Q8_0 blocks of 32");

    [Fact]
    public void UnknownTensorType() =>
        Fails(OneTensor("t", [32], 4, 0), GgufError.UnknownTensorType, "t.type = 4: not a ggml type id");

    [Fact]
    public void AlignmentNotAPowerOfTwo() =>
        Fails(GgufBytes.Header(0, 1).KvU32("general.alignment", 48), GgufError.BadAlignment, "general.alignment = 48: must be a power of two no larger than 2097152");

    [Fact]
    public void AlignmentOfTheWrongType() =>
        Fails(GgufBytes.Header(0, 1).KvString("general.alignment", "32"), GgufError.BadAlignment, "general.alignment = 32: must be a uint32, found String");

    [Fact]
    public void MisalignedOffset() =>
        Fails(OneTensor("t", [8], 0, 4).Zeros(64), GgufError.MisalignedOffset, "t.offset = 4: not a multiple of the alignment 32");

    [Fact]
    public void OffsetOutOfRange() =>
        Fails(OneTensor("t", [8], 0, 0), GgufError.OffsetOutOfRange, "t.offset = 0: 32 bytes from there pass the end of the data section (0 bytes)");

    [Fact]
    public void OverlappingTensors() =>
        Fails(GgufBytes.Header(2, 0).Tensor("a", [16], 0, 0).Tensor("b", [16], 0, 32).Pad().Zeros(96),
            GgufError.OverlappingTensors, "b.offset = 32: overlaps a at [0, 64)");

    [Fact]
    public void DataHole() =>
        Fails(OneTensor("t", [8], 0, 32).Zeros(64), GgufError.DataHole, "t.offset = 32: expected 0: in declaration order, each tensor starts at the previous one's padded end");

    /// <summary>
    /// Disjoint tensors listed out of offset order: ggml's gguf.cpp refuses them ("tensor 'a' has
    /// offset 32, expected 0"), so the reader does too rather than sorting the infos first.
    /// </summary>
    [Fact]
    public void TensorInfosOutOfOffsetOrder() =>
        Fails(GgufBytes.Header(2, 0).Tensor("a", [8], 0, 32).Tensor("b", [8], 0, 0).Pad().Zeros(64),
            GgufError.DataHole, "a.offset = 32: expected 0: in declaration order, each tensor starts at the previous one's padded end");

    [Fact]
    public void LaterTensorInsideAnEarlierOne() =>
        Fails(GgufBytes.Header(3, 0).Tensor("a", [8], 0, 0).Tensor("b", [8], 0, 32).Tensor("c", [8], 0, 0).Pad().Zeros(96),
            GgufError.OverlappingTensors, "c.offset = 0: overlaps a at [0, 32)");

    [Fact]
    public void TrailingBytes() =>
        Fails(OneTensor("t", [8], 0, 0).Zeros(64), GgufError.TrailingBytes, "data = 32: bytes after the last tensor (t) exceed its alignment padding");

    [Fact]
    public void TrailingBytesWithoutTensors() =>
        Fails(GgufBytes.Header(0, 0).Pad().Zeros(40), GgufError.TrailingBytes, "data = 40: bytes after a header that declares no tensors");

    /// <summary>Every truncation of a real header is a Truncated (or a count/length refused for the bytes left), never a crash.</summary>
    [Fact]
    public void EveryTruncationFailsCleanly()
    {
        using var ir = GgufTestModels.Create("llama-tied");
        using var stream = new MemoryStream();
        GgufWriter.Write(ir, stream, new GgufWriteOptions { FloatType = ElementType.F32 });
        var bytes = stream.ToArray();
        long header = GgufFile.ReadMetadata(bytes).DataOffset;
        var kinds = new HashSet<GgufError>();
        for (int n = 0; n < header; n++)
        {
            var e = Assert.Throws<GgufException>(() => GgufFile.ReadMetadata(bytes.AsSpan(0, n), "cut"));
            kinds.Add(e.Kind);
        }
        Assert.Subset(new HashSet<GgufError> { GgufError.BadMagic, GgufError.Truncated, GgufError.TooManyKeys, GgufError.TooManyTensors,
            GgufError.StringTooLong, GgufError.ArrayTooLong, GgufError.OffsetOutOfRange }, kinds);
        Assert.Contains(GgufError.Truncated, kinds);
    }

    [Fact]
    public void Version2ParsesLikeVersion3()
    {
        using var dir = GgufTestModels.TempDir();
        var md = GgufFile.ReadMetadata(GgufBytes.Header(0, 1, version: 2).KvU32("general.alignment", 32).WriteTo(dir));
        Assert.Equal(2u, md.Version);
        Assert.Empty(md.Tensors);
    }

    [Fact]
    public void AValidHandBuiltFileParses()
    {
        using var dir = GgufTestModels.TempDir();
        var path = GgufBytes.Header(2, 2).KvU32("general.alignment", 64).KvString("general.architecture", "llama")
            .Tensor("a", [3], 0, 0).Tensor("b", [32, 2], 8, 64).Pad(64).Zeros(64 + 68).WriteTo(dir);
        var md = GgufFile.ReadMetadata(path);
        Assert.Equal(64u, md.Alignment);
        Assert.Equal(["a", "b"], md.Tensors.Select(t => t.Name));
        Assert.Equal(68, md.Tensors[1].ByteSize);
        Assert.Equal(new long[] { 2, 32 }, md.Tensors[1].Shape);
        Assert.Equal("llama", md.Get("general.architecture")!.Value);
    }
}
