using System.Security.Cryptography;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>
/// Checkpoints laid out as `huggingface-cli download` leaves them: models--ORG--NAME/{blobs, refs/main,
/// snapshots/REV/} with every snapshot file a relative symlink into ../../blobs/. Real trees with real
/// symlinks, built in a temporary directory.
/// </summary>
public sealed class HfCacheLayoutTests : IDisposable
{
    private const string Rev = "0123456789abcdef0123456789abcdef01234567";
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A cache repo folder holding a tiny checkpoint of <paramref name="shape"/>; returns (repo folder, snapshot folder, plain copy).</summary>
    private (string Repo, string Snapshot, string Plain) MakeCache(CacheShape shape)
    {
        string plain = Checkpoint.Write(_dir.File("plain"), Checkpoint.Spec(shape.Family), new HfExportOptions(Shards: shape.Shards));
        string repo = _dir.File("hub/models--org--tiny");
        string snapshot = Path.Combine(repo, "snapshots", Rev);
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        Directory.CreateDirectory(snapshot);
        foreach (var file in Directory.EnumerateFiles(plain))
        {
            // Blobs are named by content hash, as huggingface_hub names them (sha256 for LFS files).
            string blob = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            File.Copy(file, Path.Combine(repo, "blobs", blob), overwrite: true);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), $"../../blobs/{blob}");
        }
        File.WriteAllText(Path.Combine(repo, "refs", "main"), Rev);
        return (repo, snapshot, plain);
    }

    private sealed record CacheShape(ModelFamily Family, int Shards = 1);

    private static void AssertSameModel(string expectedDir, ModelIr ir)
    {
        using var expected = HfImporter.Import(expectedDir);
        Assert.Equal(expected.Tensors.Select(t => t.Name), ir.Tensors.Select(t => t.Name));
        foreach (var t in expected.Tensors) Assert.True(t.Source.Read().SequenceEqual(ir[t.Name].Source.Read()), t.Name);
        Assert.Equal(expected.Steps, ir.Steps);
        Assert.Equal(expected.Tokenizer!.Pieces, ir.Tokenizer!.Pieces);
    }

    private static string Blob(string snapshot, string name) => Path.GetFullPath(Path.Combine(snapshot, new FileInfo(Path.Combine(snapshot, name)).LinkTarget!));

    [Fact]
    public void ASnapshotOfSymlinksIntoBlobsIsRead()
    {
        var (_, snapshot, plain) = MakeCache(new(ModelFamily.MobileLLM));
        Assert.NotNull(new FileInfo(Path.Combine(snapshot, "model.safetensors")).LinkTarget);
        using var ir = HfImporter.Import(snapshot);
        AssertSameModel(plain, ir);
        Assert.Equal(snapshot, ir.SourcePath);
        var r = CliRunner.Run("inspect", snapshot);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void AShardedSnapshotIsRead()
    {
        var (_, snapshot, plain) = MakeCache(new(ModelFamily.Llama, Shards: 2));
        Assert.True(File.Exists(Path.Combine(snapshot, "model.safetensors.index.json")));
        using var ir = HfImporter.Import(snapshot);
        AssertSameModel(plain, ir);
    }

    [Fact]
    public void TheRepoFolderIsFollowedThroughRefsMain()
    {
        var (repo, snapshot, plain) = MakeCache(new(ModelFamily.Llama));
        using var ir = HfImporter.Import(repo);
        AssertSameModel(plain, ir);
        Assert.Equal(snapshot, ir.SourcePath);
        // A hand-edited ref with a trailing newline names the same snapshot.
        File.WriteAllText(Path.Combine(repo, "refs", "main"), Rev + "\n");
        using var again = HfImporter.Import(repo);
        Assert.Equal(snapshot, again.SourcePath);
        var r = CliRunner.Run("logits", repo, "--tokens", "1,5,9");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void ConvertingFromTheRepoFolderHashesAndNamesTheSnapshot()
    {
        var (repo, snapshot, plain) = MakeCache(new(ModelFamily.MobileLLM));
        var r = CliRunner.Run("hf2mobile", repo, "-o", _dir.File("bundle"), "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        string recorded = System.Text.Json.JsonDocument.Parse(r.Stdout).RootElement.GetProperty("manifest").GetProperty("source_checkpoint_sha256").GetString()!;
        // Same names, same bytes: the cache snapshot hashes like the plain folder it mirrors.
        using (var plainIr = HfImporter.Import(plain))
            Assert.Equal(MobileLlmConvert.Formats.Mobile.CheckpointHash.Compute(plain, plainIr.SourceFiles), recorded);
        using (var snapshotIr = HfImporter.Import(snapshot))
            Assert.Equal(recorded, MobileLlmConvert.Formats.Mobile.CheckpointHash.Compute(snapshot, snapshotIr.SourceFiles));

        string gguf = _dir.File("m.gguf");
        Assert.Equal(0, CliRunner.Run("convert", snapshot, "--to", "gguf", "-o", gguf).ExitCode);
        var name = MobileLlmConvert.Formats.Gguf.GgufFile.ReadMetadata(gguf).KeyValues.Single(kv => kv.Key == "general.name").Value.Value;
        Assert.Equal("tiny", name);
    }

    private static HfCheckpointException AssertRefused(HfCheckpointError kind, string path, params string[] fragments)
    {
        var e = Assert.Throws<HfCheckpointException>(() => HfImporter.Import(path).Dispose());
        Assert.Equal(kind, e.Kind);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        CliAssert.RejectsWith(path, e.Message);
        return e;
    }

    [Fact]
    public void ASnapshotSymlinkEscapingTheRepoFolderIsRefused()
    {
        var (repo, snapshot, _) = MakeCache(new(ModelFamily.Llama));
        string outside = _dir.File("secret.json");
        File.Copy(Path.Combine(snapshot, "config.json"), outside);
        File.Delete(Path.Combine(snapshot, "config.json"));
        File.CreateSymbolicLink(Path.Combine(snapshot, "config.json"), "../../../../secret.json");
        var e = AssertRefused(HfCheckpointError.OutsideRoot, snapshot, Path.Combine(snapshot, "config.json"), "symlink target", outside);
        Assert.EndsWith($"resolves outside the cache repo folder {repo}; refusing to follow it", e.Message);
    }

    [Fact]
    public void ABlobThatIsItselfALinkOutOfTheRepoIsRefused()
    {
        var (_, snapshot, _) = MakeCache(new(ModelFamily.Llama));
        string blob = Blob(snapshot, "model.safetensors");
        string outside = _dir.File("weights-elsewhere.safetensors");
        File.Move(blob, outside);
        File.CreateSymbolicLink(blob, outside);
        AssertRefused(HfCheckpointError.OutsideRoot, snapshot, Path.Combine(snapshot, "model.safetensors"), outside);
    }

    [Fact]
    public void AShardLinkEscapingTheRepoIsAnIndexError()
    {
        var (_, snapshot, _) = MakeCache(new(ModelFamily.Llama, Shards: 2));
        const string shard = "model-00002-of-00002.safetensors";
        string outside = _dir.File("shard.safetensors");
        File.Copy(Blob(snapshot, shard), outside);
        File.Delete(Path.Combine(snapshot, shard));
        File.CreateSymbolicLink(Path.Combine(snapshot, shard), outside);
        var e = Assert.Throws<HfIndexException>(() => HfImporter.Import(snapshot).Dispose());
        Assert.Equal(HfIndexError.ShardOutsideDirectory, e.Kind);
        CliAssert.RejectsWith(snapshot, e.Message);
    }

    [Fact]
    public void ADanglingSymlinkIsRefused()
    {
        var (_, snapshot, _) = MakeCache(new(ModelFamily.Llama));
        string blob = Blob(snapshot, "model.safetensors");
        File.Delete(blob);
        var e = AssertRefused(HfCheckpointError.DanglingLink, snapshot, Path.Combine(snapshot, "model.safetensors"), blob);
        Assert.EndsWith("does not exist (an interrupted download?)", e.Message);
    }

    [Fact]
    public void ADanglingShardLinkIsAMissingShard()
    {
        var (_, snapshot, _) = MakeCache(new(ModelFamily.Llama, Shards: 2));
        File.Delete(Blob(snapshot, "model-00001-of-00002.safetensors"));
        var e = Assert.Throws<HfIndexException>(() => HfImporter.Import(snapshot).Dispose());
        Assert.Equal(HfIndexError.ShardMissing, e.Kind);
        Assert.Contains("does not exist (an interrupted download?)", e.Message);
    }

    [Fact]
    public void RefsMainNamingAMissingSnapshotIsRefused()
    {
        var (repo, _, _) = MakeCache(new(ModelFamily.Llama));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), "fedcba9876543210fedcba9876543210fedcba98");
        var e = AssertRefused(HfCheckpointError.SnapshotMissing, repo, Path.Combine(repo, "refs", "main"), "ref = fedcba9876543210fedcba9876543210fedcba98");
        Assert.EndsWith("which does not exist (an interrupted download?)", e.Message);
    }

    [Fact]
    public void ARepoFolderWithoutRefsMainIsRefused()
    {
        var (repo, _, _) = MakeCache(new(ModelFamily.Llama));
        File.Delete(Path.Combine(repo, "refs", "main"));
        var e = AssertRefused(HfCheckpointError.FileMissing, repo, Path.Combine(repo, "refs", "main"));
        Assert.EndsWith("a cache repo folder is read through refs/main; pass its snapshots/REV folder instead", e.Message);
    }

    [Theory]
    [InlineData("../../../etc")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("abc\n\n")]
    [InlineData("main\0")]
    [InlineData("C:\\x")]
    public void AHostileRefIsRefused(string value)
    {
        var (repo, _, _) = MakeCache(new(ModelFamily.Llama));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), value);
        AssertRefused(HfCheckpointError.BadRef, repo, Path.Combine(repo, "refs", "main"), "must be a commit hash or a plain revision name");
    }

    [Fact]
    public void AHugeRefIsRefusedBeforeReading()
    {
        var (repo, _, _) = MakeCache(new(ModelFamily.Llama));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), new string('a', HfCheckpointDir.MaxRefBytes + 1));
        AssertRefused(HfCheckpointError.BadRef, repo, "file length = 257");
    }

    [Fact]
    public void APlainFolderFileLinkingOutsideIsRefused()
    {
        string dir = Checkpoint.Write(_dir.File("ckpt"), Checkpoint.Spec(ModelFamily.Llama));
        string outside = _dir.File("tokenizer-elsewhere.model");
        File.Move(Path.Combine(dir, "tokenizer.model"), outside);
        File.CreateSymbolicLink(Path.Combine(dir, "tokenizer.model"), outside);
        var e = AssertRefused(HfCheckpointError.OutsideRoot, dir, Path.Combine(dir, "tokenizer.model"), outside);
        Assert.EndsWith($"resolves outside the checkpoint folder {dir}; refusing to follow it", e.Message);
    }

    [Fact]
    public void ASymlinkLoopIsRefused()
    {
        string dir = Checkpoint.Write(_dir.File("ckpt"), Checkpoint.Spec(ModelFamily.Llama));
        File.Delete(Path.Combine(dir, "model.safetensors"));
        File.CreateSymbolicLink(Path.Combine(dir, "model.safetensors"), "loop-b");
        File.CreateSymbolicLink(Path.Combine(dir, "loop-b"), "model.safetensors");
        AssertRefused(HfCheckpointError.LinkLoop, dir, $"more than {HfCheckpointDir.MaxLinkHops} symlinks to follow");
    }

    [Fact]
    public void ADirectoryWhereAFileBelongsIsRefused()
    {
        string dir = Checkpoint.Write(_dir.File("ckpt"), Checkpoint.Spec(ModelFamily.Llama));
        File.Delete(Path.Combine(dir, "tokenizer.model"));
        Directory.CreateDirectory(Path.Combine(dir, "tokenizer.model"));
        AssertRefused(HfCheckpointError.NotAFile, dir, Path.Combine(dir, "tokenizer.model"), "expected a file");
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("")]
    public void ResolveFileTakesOnlyPlainRelativeNames(string name)
    {
        var dir = HfCheckpointDir.Open(_dir.Path);
        var e = Assert.Throws<HfCheckpointException>(() => dir.ResolveFile(name));
        Assert.Equal(HfCheckpointError.BadName, e.Kind);
    }

    [Fact]
    public void ACheckpointReachedThroughASymlinkedAncestorStillResolvesInside()
    {
        Directory.CreateDirectory(_dir.File("real"));
        string dir = Checkpoint.Write(_dir.File("real/ckpt"), Checkpoint.Spec(ModelFamily.Llama));
        Directory.CreateSymbolicLink(_dir.File("alias"), _dir.File("real"));
        using var ir = HfImporter.Import(_dir.File("alias/ckpt"));
        AssertSameModel(dir, ir);
    }
}
