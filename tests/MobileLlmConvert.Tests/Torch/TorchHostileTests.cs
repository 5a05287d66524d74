using System.Text;
using MobileLlmConvert.Formats.Torch;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.TestSupport;

namespace MobileLlmConvert.Tests.Torch;

/// <summary>
/// One hand-built hostile pickle or zip per refusal kind of formats/torch.md. Each asserts the kind
/// and the message, and that `mlconvert inspect` on a checkpoint holding the file exits 2 with that
/// one line. Payloads modelled on real attacks also assert that the file their command would create
/// does not exist: the parser never imports or calls anything.
/// </summary>
public sealed class TorchHostileTests
{
    private static readonly byte[] TwoFloats = new byte[8];

    private static TorchFormatException Fails(byte[] file, TorchError kind, params string[] fragments)
    {
        using var dir = new TempDir();
        string path = dir.File("pytorch_model.bin");
        File.WriteAllBytes(path, file);
        var e = Assert.Throws<TorchFormatException>(() => TorchFile.Open(path).Dispose());
        Assert.Equal(kind, e.Kind);
        Assert.StartsWith($"{path}: ", e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        File.Copy(Path.Combine(FixtureCatalog.RepoRoot, "testdata", "models", "mobilellm-tiny", "config.json"), dir.File("config.json"));
        CliAssert.RejectsWith(dir.Path, e.Message);
        return e;
    }

    private static byte[] Archive(Pickle p, byte[]? storage = null) =>
        TorchBytes.Archive(p.Bytes(), new Dictionary<string, byte[]> { ["0"] = storage ?? TwoFloats });

    private static string Marker(TempDir dir) => dir.File("pwned");

    // ---- pickle: code execution attempts (CVE-2025-32434: torch.load(weights_only=True) RCE in torch < 2.6) ----

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("subprocess", "call")]
    [InlineData("torch", "load")]
    public void GlobalOutsideTheAllowlistIsRefusedBeforeAnythingRuns(string module, string name)
    {
        using var scratch = new TempDir();
        string marker = Marker(scratch);
        var p = new Pickle().Proto().Global(module, name).Mark().Str($"touch {marker}").Tuple().Reduce().Stop();
        var e = Fails(Archive(p), TorchError.DisallowedGlobal);
        Assert.EndsWith($"data.pkl@2 = {module}.{name}: only collections.OrderedDict, torch's tensor rebuild functions, torch.Tensor and torch storage types are allowed", e.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void StackGlobalOutsideTheAllowlistIsRefused()
    {
        using var scratch = new TempDir();
        string marker = Marker(scratch);
        var p = new Pickle().Proto(4).Str("os").Str("system").Op(0x93).Mark().Str($"touch {marker}").Tuple().Reduce().Stop();
        Fails(Archive(p), TorchError.DisallowedGlobal, "= os.system: ");
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void ReduceOfAnAllowedNameThatIsNotACallableIsRefused() =>
        Fails(Archive(new Pickle().Proto().Global("torch", "Tensor").EmptyTuple().Reduce().Stop()), TorchError.DisallowedCall,
            "REDUCE torch.Tensor: only OrderedDict and torch's tensor rebuild functions may be called");

    [Fact]
    public void RebuildFromTypeWithAnotherTypeIsRefused()
    {
        // _rebuild_from_type_v2 would call the type's __setstate__: only plain torch.Tensor is allowed.
        var p = new Pickle().Proto().Global("torch._tensor", "_rebuild_from_type_v2").Mark()
            .Global("torch._utils", "_rebuild_tensor_v2").Global("torch", "FloatStorage").EmptyTuple().EmptyDict().Tuple().Reduce().Stop();
        Fails(Archive(p), TorchError.DisallowedCall, "REDUCE torch._tensor._rebuild_from_type_v2", "only (torch._utils._rebuild_tensor_v2, torch.Tensor, args, state) is allowed");
    }

    // A state dict's _metadata arrives as BUILD on its OrderedDict (the trained fixture has one and
    // reads); BUILD on anything else, or with anything but an attribute dict, is refused.
    [Fact]
    public void BuildOnAPlainDictIsRefused() =>
        Fails(Archive(new Pickle().Proto().EmptyDict().EmptyDict().Op((byte)'b').Stop()), TorchError.DisallowedCall,
            "data.pkl@4 = BUILD: only an OrderedDict (a state dict's _metadata) takes state through BUILD");

    [Fact]
    public void BuildOnAnOrderedDictWithoutAnAttributeDictIsRefused() =>
        Fails(Archive(new Pickle().Proto().OrderedDict().EmptyList().Op((byte)'b').Stop()), TorchError.DisallowedCall,
            "BUILD: an OrderedDict's BUILD state must be an attribute dict");

    [Fact]
    public void NewObjIsRefused() =>
        Fails(Archive(new Pickle().Proto().Global("collections", "OrderedDict").EmptyTuple().Op(0x81).Stop()), TorchError.DisallowedCall, "= NEWOBJ: creating class instances is not allowed");

    // ---- pickle: container misuse (CVE-2026-24747: SETITEM on non-dicts, storage size mismatch) ----

    [Fact]
    public void SetItemOnAListIsRefused() =>
        Fails(Archive(new Pickle().Proto().EmptyList().Str("k").Str("v").SetItem().Stop()), TorchError.SetItemOnNonDict,
            "data.pkl@15 = list of 0: SETITEM(S) target must be a dict");

    [Fact]
    public void SetItemsOnATensorIsRefused()
    {
        var p = new Pickle().Proto().Tensor("FloatStorage", "0", 2, 0, [2], [1]).Mark().Str("k").Str("v").SetItems().Stop();
        Fails(Archive(p), TorchError.SetItemOnNonDict, "= tensor: SETITEM(S) target must be a dict");
    }

    [Fact]
    public void AppendOnADictIsRefused() =>
        Fails(Archive(new Pickle().Proto().EmptyDict().Str("v").Append().Stop()), TorchError.AppendOnNonList, "= dict of 0: APPEND(S) target must be a list");

    [Fact]
    public void StorageRecordShorterThanNumelIsRefused() =>
        Fails(Archive(Pickle.OneTensor(numel: 4, size: [4])), TorchError.StorageSizeMismatch,
            "pytorch_model.bin: data/0 = 8 bytes: torch.FloatStorage of 4 elements needs 16 bytes");

    [Fact]
    public void OneKeyWithTwoDTypesIsRefused()
    {
        var p = new Pickle().Proto().OrderedDict().Mark()
            .Str("a").Tensor("FloatStorage", "0", 2, 0, [2], [1])
            .Str("b").Tensor("HalfStorage", "0", 4, 0, [4], [1]).SetItems().Stop();
        Fails(Archive(p), TorchError.StorageConflict, "= key 0: used as FloatStorage[2] and as HalfStorage[4]");
    }

    [Fact]
    public void ViewPastItsStorageIsRefused() =>
        Fails(Archive(Pickle.OneTensor(size: [2], offset: 1)), TorchError.ViewOutOfBounds, ": w = offset 1, size (2), stride (1): reaches past storage 0 of 2 elements");

    [Fact]
    public void ViewWithAHugeStrideIsRefused()
    {
        var p = new Pickle().Proto().OrderedDict().Mark().Str("w").Tensor("FloatStorage", "0", 2, 0, [2, 2], [int.MaxValue, 1]).SetItems().Stop();
        Fails(Archive(p), TorchError.ViewOutOfBounds, "reaches past storage 0 of 2 elements");
    }

    [Fact]
    public void StorageTypeWithoutElementTypeIsRefusedWhenTheTensorIsRead()
    {
        using var dir = new TempDir();
        string path = dir.File("m.bin");
        File.WriteAllBytes(path, TorchBytes.Archive(Pickle.OneTensor("LongStorage", 1, [1]).Bytes(), new Dictionary<string, byte[]> { ["0"] = new byte[8] }));
        using var f = TorchFile.Open(path);
        Assert.Equal("int64", f.StorageTypeOf("w").DType);
        var e = Assert.Throws<TorchFormatException>(() => f.GetTensor("w"));
        Assert.Equal(TorchError.NoElementType, e.Kind);
        Assert.Equal($"{path}: w = torch.LongStorage (int64): no element type: only float32, float16 and bfloat16 tensors can be converted", e.Message);
    }

    [Fact]
    public void MemoIndexNeverWrittenIsRefused() =>
        Fails(Archive(new Pickle().Proto().Op((byte)'h', 7).Stop()), TorchError.MemoMissing, "data.pkl@2 = memo 7: GET of a memo slot never PUT");

    [Fact]
    public void UnknownOpcodeIsRefused() =>
        Fails(Archive(new Pickle().Proto().Raw(Encoding.ASCII.GetBytes("I1\n")).Stop()), TorchError.UnknownOpcode, "data.pkl@2 = 0x49: opcode not used by torch.save");

    [Fact]
    public void UnknownProtocolIsRefused() =>
        Fails(Archive(new Pickle().Proto(6).EmptyDict().Stop()), TorchError.BadProtocol, "data.pkl@0 = 6: only protocols 2 to 5 are read");

    [Fact]
    public void StackUnderflowIsRefused() =>
        Fails(Archive(new Pickle().Proto().Op(0x85).Stop()), TorchError.StackUnderflow, "data.pkl@2 = (empty stack): opcode needs a value on the stack");

    [Fact]
    public void DeepNestingIsRefused()
    {
        var p = new Pickle().Proto();
        for (int i = 0; i < 40; i++) p.Mark();
        Fails(Archive(p.Stop()), TorchError.NestingTooDeep, "data.pkl@34 = 33 marks: more than 32 nested");
    }

    [Fact]
    public void OversizedStringIsRefusedBeforeAllocation() =>
        Fails(Archive(new Pickle().Proto().Op((byte)'X', 0xff, 0xff, 0xff, 0x7f).Stop()), TorchError.TooLarge, "= string of 2147483647 bytes: above 65536");

    [Fact]
    public void ListGrownPastTheItemCapIsRefused()
    {
        var p = new Pickle().Proto().EmptyList();
        var pair = new byte[] { (byte)'N', (byte)'a' };
        var body = new byte[pair.Length * (PickleMachine.MaxContainerItems + 1)];
        for (int i = 0; i < body.Length; i += 2) pair.CopyTo(body, i);
        Fails(Archive(p.Raw(body).Stop()), TorchError.TooLarge, $"= {PickleMachine.MaxContainerItems + 1} container items: above {PickleMachine.MaxContainerItems}");
    }

    [Fact]
    public void BytesAfterStopAreRefused() =>
        Fails(Archive(new Pickle().Proto().EmptyDict().Stop().Op(0x4e)), TorchError.TrailingBytes, "= 1 bytes: after STOP");

    [Fact]
    public void TruncatedPickleIsRefused() =>
        Fails(Archive(new Pickle().Proto().EmptyDict().Op((byte)'X', 9, 0, 0, 0, (byte)'a')), TorchError.Truncated, "pickle ends inside an opcode");

    [Fact]
    public void BadPersistentIdIsRefused() =>
        Fails(Archive(new Pickle().Proto().Mark().Str("storage").Global("torch", "FloatStorage").Str("../../etc/passwd").Str("cpu").Int(2).Tuple().PersId().Stop()),
            TorchError.BadPersistentId, "= ../../etc/passwd: a storage key is a short alphanumeric record name");

    [Fact]
    public void RootThatIsNotADictIsRefused() =>
        Fails(Archive(new Pickle().Proto().EmptyList().Stop()), TorchError.NotAStateDict, "data.pkl = list of 0: the pickled object must be a dict of name -> tensor");

    [Fact]
    public void EntryThatIsNotATensorIsRefused() =>
        Fails(Archive(new Pickle().Proto().EmptyDict().Str("w").Int(3).SetItem().Stop()), TorchError.NotAStateDict, "data.pkl['w'] = 3: every entry must be a string name -> tensor");

    [Fact]
    public void DuplicateNameIsRefused()
    {
        var p = new Pickle().Proto().OrderedDict().Mark()
            .Str("w").Tensor("FloatStorage", "0", 2, 0, [2], [1]).Str("w").Tensor("FloatStorage", "0", 2, 0, [2], [1]).SetItems().Stop();
        Fails(Archive(p), TorchError.DuplicateName, "= 'w': key set twice in one dict");
    }

    // ---- zip container (PKWARE APPNOTE; picklescan CVE-2025-1944/1945 name and flag tricks) ----

    private static List<ZipRecord> Records(byte[]? pickle = null) =>
    [
        new("archive/data.pkl", pickle ?? Pickle.OneTensor().Bytes()),
        new("archive/data/0", TwoFloats),
        new("archive/version", "3\n"u8.ToArray()),
    ];

    [Fact]
    public void LocalNameDifferentFromCentralNameIsRefused()
    {
        // A scanner reading local headers sees a harmless data.pkl; a loader trusting the central
        // directory would run the other one. Both names must agree.
        using var scratch = new TempDir();
        string marker = Marker(scratch);
        var evil = new Pickle().Proto().Global("os", "system").Mark().Str($"touch {marker}").Tuple().Reduce().Stop().Bytes();
        var recs = Records(evil);
        recs[0] = recs[0] with { LocalName = "archive/data.pkx" };
        Fails(TorchBytes.Zip(recs), TorchError.HeaderMismatch, "archive/data.pkl.name = archive/data.pkx: local header names a different record than the central directory");
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void EncryptedFlagIsRefused()
    {
        var recs = Records();
        recs[0] = recs[0] with { Flags = 0x0809 };
        Fails(TorchBytes.Zip(recs), TorchError.BadFlags, "archive/data.pkl.flags = 0x0809: only bits 3 (data descriptor) and 11 (UTF-8) are allowed");
    }

    [Fact]
    public void LocalFlagsDifferentFromCentralFlagsAreRefused()
    {
        var recs = Records();
        recs[1] = recs[1] with { LocalFlags = 0x0001 };
        Fails(TorchBytes.Zip(recs), TorchError.HeaderMismatch, "archive/data/0.flags = local 0x0001, central 0x0808: local and central flags differ");
    }

    [Fact]
    public void CompressedRecordIsRefused()
    {
        var recs = Records();
        recs[1] = recs[1] with { Method = 8 };
        Fails(TorchBytes.Zip(recs), TorchError.Compressed, "archive/data/0.method = 8: records must be STORED (method 0)");
    }

    [Fact]
    public void DuplicateRecordIsRefused()
    {
        var recs = Records();
        recs.Add(recs[1]);
        Fails(TorchBytes.Zip(recs), TorchError.DuplicateRecord, "archive/data/0 = (twice)");
    }

    [Theory]
    [InlineData("archive/../data.pkl")]
    [InlineData("/archive/data.pkl")]
    [InlineData("archive\\data.pkl")]
    [InlineData("archive//data.pkl")]
    [InlineData("other/data.pkl")]
    public void BadRecordNameIsRefused(string name)
    {
        var recs = Records();
        recs.Add(new ZipRecord(name, [1]));
        Fails(TorchBytes.Zip(recs), TorchError.BadRecordName, $"= {name}: ");
    }

    [Fact]
    public void OverlappingRecordsAreRefused()
    {
        // A record hidden inside another record's bytes (zip-in-zip): its local header is genuine,
        // so only the overlap check catches two names over one range.
        var recs = Records();
        var inner = TorchBytes.LocalHeader("archive/data/9", 0x0808, 0, 0);
        long hostData = recs.Sum(r => 30L + Encoding.UTF8.GetByteCount(r.Name) + r.Data.Length) + 30 + "archive/data/8".Length;
        recs.Add(new ZipRecord("archive/data/8", inner));
        recs.Add(new ZipRecord("archive/data/9", []) { CentralOnly = true, CentralOffset = hostData });
        Fails(TorchBytes.Zip(recs), TorchError.RecordOverlap, $"archive/data/9 = at {hostData}: overlaps archive/data/8");
    }

    [Fact]
    public void TruncatedZipHasNoEndRecord() =>
        Fails(TorchBytes.Zip(Records())[..^10], TorchError.NoEndOfCentralDirectory, "no end record in the last 64 KiB");

    [Fact]
    public void Zip64EscapesWithoutAZip64RecordAreRefused()
    {
        var zip = TorchBytes.Zip(Records());
        zip.AsSpan(zip.Length - 22 + 16, 4).Fill(0xff);
        Fails(zip, TorchError.BadZip64, "ZIP64 escape values without a ZIP64 end record");
    }

    [Fact]
    public void Zip64RecordDisagreeingWithTheEndRecordIsRefused()
    {
        // torch (miniz) always writes ZIP64 end records; a count there that differs from the plain one is a trick.
        var bytes = File.ReadAllBytes(Path.Combine(FixtureCatalog.RepoRoot, "testdata", "torch", "dtypes.bin"));
        int at = bytes.AsSpan().LastIndexOf("PK\x06\x06"u8);
        Assert.True(at > 0);
        bytes[at + 32] ^= 1; // total entries (APPNOTE 4.3.14)
        Fails(bytes, TorchError.BadZip64, "zip64 end of central directory", "disagrees with the end record");
    }

    [Fact]
    public void NotAZipIsRefused() => Fails("hello"u8.ToArray(), TorchError.NotZip, "magic = 68656c6c: not a torch.save zip");

    [Fact]
    public void BigEndianIsRefused() =>
        Fails(TorchBytes.Archive(Pickle.OneTensor().Bytes(), new Dictionary<string, byte[]> { ["0"] = TwoFloats }, byteorder: "big"), TorchError.BigEndian, "byteorder = big: only little-endian");

    [Fact]
    public void UnsupportedVersionIsRefused() =>
        Fails(TorchBytes.Archive(Pickle.OneTensor().Bytes(), new Dictionary<string, byte[]> { ["0"] = TwoFloats }, version: "99\n"), TorchError.BadVersion, "version = 99: supported serialization versions are 1 to 10");

    [Fact]
    public void MissingStorageRecordIsRefused() =>
        Fails(TorchBytes.Archive(Pickle.OneTensor().Bytes(), new Dictionary<string, byte[]>()), TorchError.MissingRecord, "data/0 = (absent): the pickle names storage 0");

    [Fact]
    public void TorchScriptRecordIsRefused()
    {
        var recs = Records();
        recs.Add(new ZipRecord("archive/code/__torch__.py", "import os"u8.ToArray()));
        Fails(TorchBytes.Zip(recs), TorchError.UnknownRecord, "record = code/__torch__.py: not a record of a torch.save state dict");
    }

    [Fact]
    public void LegacyFormatIsRefusedWithAHint()
    {
        var legacy = File.ReadAllBytes(Path.Combine(FixtureCatalog.RepoRoot, "testdata", "torch", "legacy.bin"));
        Fails(legacy, TorchError.LegacyFormat, "magic = 0x1950a86a20f9469cfc6c: legacy (pre-1.6) torch.save format is not read; re-save it with torch >= 1.6");
    }
}
