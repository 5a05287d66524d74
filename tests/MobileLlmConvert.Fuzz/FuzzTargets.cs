using System.Buffers.Binary;
using System.Security.Cryptography;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.Safetensors;
using MobileLlmConvert.Formats.SentencePiece;
using MobileLlmConvert.Formats.Torch;

namespace MobileLlmConvert.Fuzz;

/// <summary>
/// The table of fuzz targets, one row per reader. Adding a reader is one row: a name, its seeds,
/// its entry point and its exception type. Seeds come from the committed checkpoints under
/// testdata/models/; GGUF, mobile and bundle seeds are written from them at run time by our writers.
/// </summary>
public static class FuzzTargets
{
    /// <summary>Checkpoints whose converted files seed the GGUF and mobile targets: every family, tied and untied, shared and not.</summary>
    private static readonly string[] WrittenFrom = ["llama-tiny", "llama-tiny-tied", "mobilellm-ls-tiny", "mobillama-tiny"];

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new()
        {
            Name = "safetensors",
            Seeds = () => Committed("*.safetensors").Select(f => SafetensorsSeed(f.Name, f.Bytes)).ToList(),
            Run = (bytes, _) => SafetensorsHeaderParser.Parse(bytes, "input.safetensors"),
            Expected = [typeof(SafetensorsException)],
            Json = true,
        },
        new()
        {
            Name = "config",
            Seeds = () => Committed("config.json").Select(f => FuzzSeed.Whole(f.Name, f.Bytes)).ToList(),
            Run = (bytes, _) => HfFamilies.Resolve(HfConfigJson.Parse(bytes, "config.json"), "config.json"),
            Expected = [typeof(HfConfigException)],
            Json = true,
        },
        new()
        {
            Name = "index",
            Seeds = () => Committed("model.safetensors.index.json").Select(f => FuzzSeed.Whole(f.Name, f.Bytes)).ToList(),
            Run = (bytes, _) =>
            {
                var index = HfIndex.Parse(bytes, "model.safetensors.index.json");
                // Against the committed sharded checkpoint: its shards exist, and a hostile name must not reach past it.
                foreach (var shard in index.Shards) HfIndex.ResolveShard(ShardedCheckpoint, shard, "model.safetensors.index.json");
            },
            Expected = [typeof(HfIndexException)],
            Json = true,
        },
        new()
        {
            Name = "sentencepiece",
            Seeds = () => Committed("tokenizer.model").Select(f => FuzzSeed.Whole(f.Name, f.Bytes)).ToList(),
            Run = (bytes, _) => SentencePieceModelFile.Read(bytes, "tokenizer.model", null),
            Expected = [typeof(SentencePieceException)],
        },
        new()
        {
            Name = "tokenizer-config",
            Seeds = () => Committed("tokenizer_config.json").Select(f => FuzzSeed.Whole(f.Name, f.Bytes)).ToList(),
            Run = (bytes, _) => SentencePieceModelFile.ReadTokenizerConfig(bytes, "tokenizer.model"),
            Expected = [typeof(SentencePieceException)],
            Json = true,
        },
        new()
        {
            Name = "torch",
            // torch.save zips written by the real torch (testdata/torch/make_fixtures.py); the big trained checkpoint is left out (slow per input).
            // legacy.bin (pre-1.6 format) is refused by design, so it is no seed.
            Seeds = () => CommittedUnder("torch", "*.bin").Where(f => f.Name != "legacy.bin").Select(f => FuzzSeed.Whole(f.Name, f.Bytes)).ToList(),
            Run = (bytes, scratch) =>
            {
                string path = scratch.File("pytorch_model.bin");
                File.WriteAllBytes(path, bytes);
                using var file = TorchFile.Open(path);
                // Integer buffers parse but have no IR element type (the importer refuses them only if a step uses one).
                foreach (var e in file.Entries.Where(e => file.StorageTypeOf(e.Name).ElementType is not null))
                    _ = file.GetTensor(e.Name).Source.Read().Length;
            },
            Expected = [typeof(TorchFormatException)],
        },
        new()
        {
            Name = "tokenizer-json",
            Seeds = () => CommittedUnder("tokenizers", "tokenizer.json").Select(f => FuzzSeed.Whole(f.Name, f.Bytes)).ToList(),
            Run = (bytes, _) => HfTokenizerJson.ReadVocabulary(bytes, "tokenizer.json"),
            Expected = [typeof(HfTokenizerException)],
            Json = true,
        },
        new()
        {
            Name = "gguf",
            Seeds = () => WrittenFrom.Select(n => GgufSeed(n, Write(n, s => GgufWriter.Write(s.Ir, s.Stream, new GgufWriteOptions { FloatType = ElementType.F32 })))).ToList(),
            Run = (bytes, scratch) =>
            {
                // The header parser first, in memory; only a header it accepts goes to a file for the IR builder.
                GgufFile.ReadMetadata(bytes, "input.gguf");
                string path = scratch.File("input.gguf");
                File.WriteAllBytes(path, bytes);
                using var resources = new ResourceBag();
                using var ir = GgufFile.Read(path, resources);
                ReadAllTensors(ir);
            },
            Expected = [typeof(GgufException)],
        },
        new()
        {
            Name = "mobile",
            Seeds = () => WrittenFrom.Select(n => MobileSeed(n, Write(n, s => MobileWriter.Write(s.Ir, s.Stream)))).ToList(),
            // Section checksums off: with them on, nearly every mutation of a section stops at its SHA-256.
            Run = (bytes, _) =>
            {
                var model = MobileFile.Load(bytes, "input.mlm", verifyChecksums: false);
                using var ir = model.Ir;
                ReadAllTensors(ir);
            },
            Expected = [typeof(MobileFormatException)],
            Fixup = ResignMobileHeader,
        },
        new()
        {
            Name = "manifest",
            Seeds = () => WrittenFrom.Select(n => FuzzSeed.Whole(n + "/manifest.json", WriteBundleManifest(n))).ToList(),
            Run = (bytes, _) => BundleManifest.Parse(bytes, "manifest.json"),
            Expected = [typeof(BundleException)],
            Json = true,
        },
    ];

    private static string ShardedCheckpoint => Path.Combine(RepoRoot, "testdata", "models", "llama-sharded");

    public static FuzzTarget Get(string name) =>
        All.SingleOrDefault(t => t.Name == name) ?? throw new ArgumentException($"no fuzz target '{name}'; targets: {string.Join(", ", All.Select(t => t.Name))}");

    /// <summary>The repository root: the first ancestor of the program's directory holding MobileLlmConvert.sln.</summary>
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MobileLlmConvert.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no MobileLlmConvert.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Committed fixture files of one name pattern, in ordinal order, identical contents once.</summary>
    private static List<(string Name, byte[] Bytes)> Committed(string pattern) => CommittedUnder("models", pattern);

    /// <summary>As <see cref="Committed"/>, under testdata/<paramref name="folder"/>.</summary>
    private static List<(string Name, byte[] Bytes)> CommittedUnder(string folder, string pattern)
    {
        var models = Path.Combine(RepoRoot, "testdata", folder);
        return Directory.EnumerateFiles(models, pattern, SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(p => (Name: Path.GetRelativePath(models, p), Bytes: File.ReadAllBytes(p)))
            .DistinctBy(f => Convert.ToHexString(SHA256.HashData(f.Bytes)))
            .ToList();
    }

    private sealed record WriteSource(ModelIr Ir, Stream Stream);

    private static byte[] Write(string fixture, Action<WriteSource> write)
    {
        using var resources = new ResourceBag();
        using var ir = HfImporter.Import(Path.Combine(RepoRoot, "testdata", "models", fixture), resources);
        using var stream = new MemoryStream();
        write(new WriteSource(ir, stream));
        return stream.ToArray();
    }

    private static byte[] WriteBundleManifest(string fixture)
    {
        using var resources = new ResourceBag();
        using var ir = HfImporter.Import(Path.Combine(RepoRoot, "testdata", "models", fixture), resources);
        var dir = Directory.CreateTempSubdirectory("mlc-fuzz-seed-");
        try
        {
            string bundle = Path.Combine(dir.FullName, "bundle");
            MobileBundle.Write(bundle, ir, new BundleOptions { Options = new Dictionary<string, string> { ["quant"] = "f16" } });
            return File.ReadAllBytes(Path.Combine(bundle, MobileBundle.ManifestFileName));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static FuzzSeed SafetensorsSeed(string name, byte[] bytes)
    {
        long header = bytes.Length >= 8 ? BinaryPrimitives.ReadInt64LittleEndian(bytes) : 0;
        return new FuzzSeed(name, bytes, 0, (int)Math.Clamp(8 + header, 0, bytes.Length));
    }

    private static FuzzSeed GgufSeed(string name, byte[] bytes) =>
        new(name + ".gguf", bytes, 0, (int)GgufFile.ReadMetadata(bytes, name).DataOffset);

    /// <summary>The protobuf header (at header_offset, SPEC.md "Layout") is what the reader interprets; sections are slices.</summary>
    private static FuzzSeed MobileSeed(string name, byte[] bytes)
    {
        int headerOffset = (int)BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(16));
        return new FuzzSeed(name + ".mlm", bytes, headerOffset, bytes.Length - headerOffset);
    }

    /// <summary>
    /// Rewrites the fixed header's file_length and header SHA-256 (formats/mobile/SPEC.md, "Layout":
    /// u32 header_length at 12, u64 header_offset at 16, u64 file_length at 24, SHA-256 at 32) to
    /// match the mutated bytes, so damage to the protobuf header reaches the parser.
    /// </summary>
    public static byte[] ResignMobileHeader(byte[] bytes)
    {
        if (bytes.Length < 64) return bytes;
        var d = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(24), (ulong)d.Length);
        ulong length = BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(12));
        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(16));
        if (offset >= 64 && offset <= (ulong)d.Length && length <= (ulong)d.Length - offset)
            SHA256.HashData(d.AsSpan((int)offset, (int)length)).CopyTo(d.AsSpan(32));
        return d;
    }

    private static void ReadAllTensors(ModelIr ir)
    {
        foreach (var t in ir.Tensors) _ = t.Source.Read().Length;
    }
}
