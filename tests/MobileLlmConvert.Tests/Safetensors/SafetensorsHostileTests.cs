using System.Buffers.Binary;
using System.Text;
using MobileLlmConvert.Formats.Safetensors;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Safetensors;

/// <summary>One hand-built bad file per <see cref="SafetensorsError"/> kind, read through the mapped reader.</summary>
public sealed class SafetensorsHostileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>An 8-byte length prefix, the header text as given, then <paramref name="dataBytes"/> zero bytes.</summary>
    private static byte[] File(string header, int dataBytes, ulong? declaredLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    private void AssertError(SafetensorsError kind, byte[] bytes, string field, string value)
    {
        string path = _dir.File($"{kind}.safetensors");
        System.IO.File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(kind, e.Kind);
        Assert.Contains(path, e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(value, e.Message);

        // The same bytes as the weights of an otherwise valid checkpoint: the CLI's one line names them.
        string ckpt = _dir.File($"{kind}-checkpoint");
        Directory.CreateDirectory(ckpt);
        System.IO.File.Copy(Path.Combine(FixtureCatalog.Get("llama-tiny").CommittedPath, "config.json"), Path.Combine(ckpt, "config.json"));
        string weights = Path.Combine(ckpt, "model.safetensors");
        System.IO.File.WriteAllBytes(weights, bytes);
        CliAssert.RejectsWith(ckpt, e.Message.Replace(path, weights));
    }

    private const string A = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    [Fact]
    public void FileTooShort() => AssertError(SafetensorsError.FileTooShort, [1, 0, 0, 0], "file length", "4");

    [Fact]
    public void EmptyFileIsTooShort() => AssertError(SafetensorsError.FileTooShort, [], "file length", "0");

    [Fact]
    public void HeaderTooLarge() => AssertError(SafetensorsError.HeaderTooLarge, File("{}", 0, 100_000_001), "header length", "100000001");

    [Fact]
    public void HugeHeaderLengthIsRefusedBeforeAnyAllocation() =>
        AssertError(SafetensorsError.HeaderTooLarge, File("{}", 0, ulong.MaxValue), "header length", ulong.MaxValue.ToString());

    [Fact]
    public void HeaderPastEnd() => AssertError(SafetensorsError.HeaderPastEnd, File("{}", 0, 1000), "header length", "1000");

    [Fact]
    public void InvalidUtf8()
    {
        var bytes = File("{\"a\u00e9\":1}", 0);
        bytes[8 + 3] = 0xFF; // the first byte of the two-byte é
        AssertError(SafetensorsError.InvalidUtf8, bytes, "header", "0xFF at header offset 3");
    }

    [Fact]
    public void InvalidJson() => AssertError(SafetensorsError.InvalidJson, File("{\"a\":", 0), "header", "line 0");

    [Fact]
    public void HeaderNotObject() => AssertError(SafetensorsError.HeaderNotObject, File("[1,2]", 0), "header", "Array");

    [Fact]
    public void DuplicateName() => AssertError(SafetensorsError.DuplicateName, File("{" + A + "," + A + "}", 8), "a", "(twice)");

    [Fact]
    public void DuplicateKeyInsideAnEntry() =>
        AssertError(SafetensorsError.DuplicateName, File("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "a.dtype", "(twice)");

    [Fact]
    public void BadEntryMissingKey() => AssertError(SafetensorsError.BadEntry, File("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "a.shape", "(absent)");

    [Fact]
    public void BadEntryUnknownKey() =>
        AssertError(SafetensorsError.BadEntry, File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8), "a.x", "1");

    [Fact]
    public void BadEntryNotAnObject() => AssertError(SafetensorsError.BadEntry, File("{\"a\":[1]}", 0), "a", "Array");

    [Fact]
    public void BadEntryDTypeNotAString() =>
        AssertError(SafetensorsError.BadEntry, File("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "a.dtype", "4");

    [Fact]
    public void UnknownDType() => AssertError(SafetensorsError.UnknownDType, File("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "a.dtype", "F33");

    [Fact]
    public void BadShapeNegativeDimension() => AssertError(SafetensorsError.BadShape, File("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "a.shape", "[-2]");

    [Fact]
    public void BadShapeOverflow() =>
        AssertError(SafetensorsError.BadShape, File("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8), "a.shape", "[4294967296,4294967296]");

    [Fact]
    public void BadOffsetsReversed() => AssertError(SafetensorsError.BadOffsets, File("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8), "a.data_offsets", "[8,0]");

    [Fact]
    public void SizeMismatch() => AssertError(SafetensorsError.SizeMismatch, File("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "a.data_offsets", "[0,8]");

    [Fact]
    public void DataHoleAtStart() => AssertError(SafetensorsError.DataHole, File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "a.data_offsets", "[4, 12]");

    [Fact]
    public void DataHoleBetweenTensors() =>
        AssertError(SafetensorsError.DataHole, File("{" + A + ",\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[10,14]}}", 14), "b.data_offsets", "[10, 14]");

    [Fact]
    public void DataOverlap() =>
        AssertError(SafetensorsError.DataOverlap, File("{" + A + ",\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[6,10]}}", 10), "b.data_offsets", "[6, 10]");

    [Fact]
    public void OffsetsPastEnd() => AssertError(SafetensorsError.OffsetsPastEnd, File("{" + A + "}", 4), "a.data_offsets", "[0, 8]");

    [Fact]
    public void TrailingBytes() => AssertError(SafetensorsError.TrailingBytes, File("{" + A + "}", 9), "data buffer", "9 bytes");

    [Fact]
    public void BadMetadataValueNotAString() =>
        AssertError(SafetensorsError.BadMetadata, File("{\"__metadata__\":{\"format\":1}," + A + "}", 8), "__metadata__.format", "1");

    [Fact]
    public void BadMetadataNotAnObject() => AssertError(SafetensorsError.BadMetadata, File("{\"__metadata__\":\"pt\"}", 0), "__metadata__", "String");

    [Fact]
    public void UnsupportedDTypeIsReportedWhenTheTensorIsAsked()
    {
        string path = _dir.File("i64.safetensors");
        System.IO.File.WriteAllBytes(path, File("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8));
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("I64", file.Entries[0].DType);
        var e = Assert.Throws<SafetensorsException>(() => file.GetTensor("a"));
        Assert.Equal(SafetensorsError.UnsupportedDType, e.Kind);
        Assert.Equal($"{path}: a.dtype = I64: only F32, F16 and BF16 tensors can be converted", e.Message);
    }

    [Fact]
    public void NoSuchTensor()
    {
        string path = _dir.File("a.safetensors");
        System.IO.File.WriteAllBytes(path, File("{" + A + "}", 8));
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<SafetensorsException>(() => file.GetTensor("b"));
        Assert.Equal(SafetensorsError.NoSuchTensor, e.Kind);
        Assert.Contains("b = (absent)", e.Message);
    }

    [Fact]
    public void EveryErrorKindHasAHostileFileHere()
    {
        var tested = typeof(SafetensorsHostileTests).GetMethods().Concat(typeof(SafetensorsLargeTensorTests).GetMethods()).Select(m => m.Name).ToHashSet();
        foreach (var kind in Enum.GetNames<SafetensorsError>())
        {
            Assert.True(tested.Any(n => n.Contains(kind, StringComparison.Ordinal)), $"no test for {kind}");
        }
    }

    [Fact]
    public void SubByteDTypesMustFillWholeBytes() =>
        AssertError(SafetensorsError.SizeMismatch, File("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2), "a.shape", "[3]");
}

public sealed class SafetensorsLargeTensorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void TensorTooLargeForASpanIsReportedNotThrownAsACrash()
    {
        // A sparse 3 GB file: valid safetensors, but one tensor larger than Array.MaxLength.
        const long count = 750_000_000;
        string header = $"{{\"big\":{{\"dtype\":\"F32\",\"shape\":[{count}],\"data_offsets\":[0,{count * 4}]}}}}";
        var json = System.Text.Encoding.UTF8.GetBytes(header);
        string path = _dir.File("big.safetensors");
        using (var f = new FileStream(path, FileMode.CreateNew))
        {
            var prefix = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)json.Length);
            f.Write(prefix);
            f.Write(json);
            f.SetLength(8 + json.Length + count * 4);
        }
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<SafetensorsException>(() => file.GetTensor("big"));
        Assert.Equal(SafetensorsError.TensorTooLarge, e.Kind);
        Assert.Equal($"{path}: big = 3000000000 bytes: a single tensor may hold at most {Array.MaxLength} bytes", e.Message);
    }
}
