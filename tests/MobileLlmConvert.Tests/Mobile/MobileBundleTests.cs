using System.Security.Cryptography;
using System.Text;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Mobile;
using static MobileLlmConvert.Tests.Mobile.MobileTestModels;

namespace MobileLlmConvert.Tests.Mobile;

public class MobileBundleTests
{
    private static readonly BundleOptions Options = new()
    {
        SourceCheckpointSha256 = new string('a', 64),
        Options = new Dictionary<string, string> { ["quant"] = "q4", ["group_size"] = "32", ["dedup"] = "true" },
        ToolVersion = "9.8.7",
    };

    private static ModelIr Model() => Quantize(SyntheticModel.Create(MobileLlmLs with { DType = ElementType.F16 }, TensorNames.HuggingFace), ElementType.Q4_0);

    [Fact]
    public void The_manifest_lists_family_source_options_counts_and_the_model_file()
    {
        using var dir = new TempDir();
        var ir = Model();
        var manifest = MobileBundle.Write(dir["bundle"], ir, Options);

        var model = dir["bundle/model.mlcm"];
        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(model)));
        string expected = $$"""
            {
              "format": "mlconvert-mobile-bundle",
              "format_version": 1,
              "model": "model.mlcm",
              "family": "MobileLLM",
              "architecture": "MobileLLMForCausalLM",
              "source_checkpoint_sha256": "{{new string('a', 64)}}",
              "tool_version": "9.8.7",
              "options": {
                "dedup": "true",
                "group_size": "32",
                "quant": "q4"
              },
              "parameters": {
                "stored": {{ir.StoredParameters}},
                "executed": {{ir.ExecutedParameters}}
              },
              "files": [
                {
                  "path": "model.mlcm",
                  "bytes": {{new FileInfo(model).Length}},
                  "sha256": "{{sha}}"
                }
              ]
            }

            """;
        Assert.Equal(expected.ReplaceLineEndings("\n"), File.ReadAllText(dir["bundle/manifest.json"]));
        Assert.True(ir.ExecutedParameters > ir.StoredParameters);
        Assert.Equal(["manifest.json", "model.mlcm"], Directory.GetFiles(dir["bundle"]).Select(Path.GetFileName).Order());
        Assert.Equal(sha, manifest.Files.Single().Sha256);
        Assert.Equal(sha, MobileBundle.VerifyManifest(dir["bundle"]).Files[0].Sha256);
    }

    [Fact]
    public void The_model_file_records_provenance_in_its_metadata()
    {
        using var dir = new TempDir();
        MobileBundle.Write(dir["b"], Model(), Options);
        using var resources = new ResourceBag();
        var model = MobileFile.Load(dir["b/model.mlcm"], resources);
        Assert.Equal(new Dictionary<string, string>
        {
            ["mlconvert.option.dedup"] = "true",
            ["mlconvert.option.group_size"] = "32",
            ["mlconvert.option.quant"] = "q4",
            ["mlconvert.source_checkpoint_sha256"] = new string('a', 64),
            ["mlconvert.tool_version"] = "9.8.7",
        }, model.Metadata);
    }

    [Fact]
    public void Two_runs_give_byte_identical_bundles_and_open_accepts_dir_or_file()
    {
        using var dir = new TempDir();
        var ir = Model();
        MobileBundle.Write(dir["one"], ir, Options);
        MobileBundle.Write(dir["two"], ir, Options);
        foreach (var name in new[] { "model.mlcm", "manifest.json" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir["one"], name)), File.ReadAllBytes(Path.Combine(dir["two"], name)));
        }

        Assert.True(MobileFile.HasMagic(dir["one/model.mlcm"]));
        Assert.False(MobileFile.HasMagic(dir["one/manifest.json"]));
        using var resources = new ResourceBag();
        AssertSameModel(ir, MobileBundle.Open(dir["one"], resources));
        AssertSameModel(ir, MobileBundle.Open(dir["one/model.mlcm"], resources));
    }

    [Fact]
    public void Rewriting_a_bundle_replaces_it_whole()
    {
        using var dir = new TempDir();
        MobileBundle.Write(dir["b"], Model(), Options);
        File.WriteAllText(dir["b/stale.txt"], "from an older run");
        MobileBundle.Write(dir["b"], SyntheticModel.Create(LlamaTied, TensorNames.HuggingFace), Options);
        Assert.False(File.Exists(dir["b/stale.txt"]));
        MobileBundle.VerifyManifest(dir["b"]);
    }

    [Fact]
    public void A_writer_that_fails_midway_leaves_no_bundle_and_no_temporary_directory()
    {
        using var dir = new TempDir();
        var ir = Model();
        var failing = ir.Tensors.Select(t => t.Name != "model.layers.1.mlp.up_proj.weight" ? t
            : new Tensor(t.Name, t.Shape, t.Type, new ComputedSource(t.ByteLength, _ => throw new IOException("disk on fire")))).ToList();
        var broken = Rebuild(ir, failing, ir.Tokenizer);

        var e = Assert.Throws<IOException>(() => MobileBundle.Write(dir["bundle"], broken, Options));
        Assert.Equal("disk on fire", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));

        // An existing bundle survives a failed rewrite untouched.
        MobileBundle.Write(dir["bundle"], ir, Options);
        var before = File.ReadAllBytes(dir["bundle/model.mlcm"]);
        Assert.Throws<IOException>(() => MobileBundle.Write(dir["bundle"], broken, Options));
        Assert.Equal(before, File.ReadAllBytes(dir["bundle/model.mlcm"]));
        Assert.Equal(["bundle"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    private static BundleException VerifyFails(string bundle, BundleError kind)
    {
        var e = Assert.Throws<BundleException>(() => MobileBundle.VerifyManifest(bundle));
        Assert.Equal(kind, e.Kind);
        return e;
    }

    [Fact]
    public void Verify_reports_a_changed_byte_a_changed_size_and_extra_or_missing_files()
    {
        using var dir = new TempDir();
        string b = dir["b"];
        var manifest = MobileBundle.Write(b, Model(), Options);
        string model = Path.Combine(b, "model.mlcm");
        string manifestPath = Path.Combine(b, "manifest.json");
        var original = File.ReadAllBytes(model);

        var tampered = (byte[])original.Clone();
        tampered[100] ^= 1;
        File.WriteAllBytes(model, tampered);
        var e = VerifyFails(b, BundleError.HashMismatch);
        Assert.Equal($"{manifestPath}: files[0].sha256 = {manifest.Files[0].Sha256}: model.mlcm hashes to {Convert.ToHexStringLower(SHA256.HashData(tampered))}", e.Message);

        File.WriteAllBytes(model, [.. original, 0]);
        e = VerifyFails(b, BundleError.SizeMismatch);
        Assert.Equal($"{manifestPath}: files[0].bytes = {original.Length}: model.mlcm has {original.Length + 1} bytes", e.Message);

        File.WriteAllBytes(model, original);
        File.WriteAllText(Path.Combine(b, "notes.txt"), "x");
        e = VerifyFails(b, BundleError.UnlistedFile);
        Assert.Equal($"{manifestPath}: files = notes.txt: in the bundle directory but not listed in the manifest", e.Message);
        File.Delete(Path.Combine(b, "notes.txt"));

        File.Delete(model);
        e = VerifyFails(b, BundleError.MissingFile);
        Assert.Equal($"{manifestPath}: files[0].path = model.mlcm: listed but not in the bundle", e.Message);
    }

    [Fact]
    public void Verify_rejects_hostile_manifests()
    {
        using var dir = new TempDir();
        string b = dir["b"];
        MobileBundle.Write(b, Model(), Options);
        string manifestPath = Path.Combine(b, "manifest.json");
        string good = File.ReadAllText(manifestPath);

        File.WriteAllText(manifestPath, good.Replace("\"path\": \"model.mlcm\"", "\"path\": \"../model.mlcm\""));
        Assert.Equal($"{manifestPath}: files[0].path = ../model.mlcm: must be a plain file name inside the bundle (no separators, no \"..\")",
            VerifyFails(b, BundleError.BadPath).Message);

        File.WriteAllText(manifestPath, good.Replace("\"format_version\": 1", "\"format_version\": 1, \"format_version\": 2"));
        Assert.StartsWith($"{manifestPath}: manifest.json = ", VerifyFails(b, BundleError.ManifestParse).Message);

        File.WriteAllText(manifestPath, good.Replace("\"format_version\": 1", "\"format_version\": 7"));
        Assert.Equal($"{manifestPath}: format = mlconvert-mobile-bundle 7: expected mlconvert-mobile-bundle 1", VerifyFails(b, BundleError.UnsupportedFormat).Message);

        File.WriteAllText(manifestPath, good.Replace("\"bytes\": ", "\"bytes\": -"));
        Assert.EndsWith(": must be a non-negative integer", VerifyFails(b, BundleError.BadField).Message);

        File.WriteAllText(manifestPath, "{" + new string(' ', (1 << 20) + 1) + "}");
        VerifyFails(b, BundleError.OverCap);

        File.Delete(manifestPath);
        Assert.Equal($"{b}: manifest.json = (absent): a bundle directory holds manifest.json", VerifyFails(b, BundleError.MissingManifest).Message);
    }

    [Fact]
    public void The_checkpoint_hash_covers_exactly_the_files_the_importer_read()
    {
        using var dir = new TempDir();
        string hf = dir["hf"];
        Directory.CreateDirectory(hf);
        File.WriteAllText(Path.Combine(hf, "config.json"), "{\"model_type\": \"mobilellm\"}");
        File.WriteAllBytes(Path.Combine(hf, "tokenizer.model"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(hf, "model.safetensors"), [4, 5, 6, 7]);
        File.WriteAllText(Path.Combine(hf, "README.md"), "readme");
        File.WriteAllText(Path.Combine(hf, "generation_config.json"), "{}");
        File.WriteAllBytes(Path.Combine(hf, "pytorch_model.bin"), [9, 9]);
        string[] used = [Path.Combine(hf, "tokenizer.model"), Path.Combine(hf, "config.json"), Path.Combine(hf, "model.safetensors")];

        Assert.Equal(["config.json", "model.safetensors", "tokenizer.model"], CheckpointHash.Names(hf, used));
        // By hand: per file in ordinal order, name, a zero byte, the u64 LE length, the bytes.
        var expected = new List<byte>();
        void Frame(string name, byte[] bytes)
        {
            expected.AddRange(Encoding.UTF8.GetBytes(name));
            expected.Add(0);
            expected.AddRange(BitConverter.GetBytes((ulong)bytes.Length));
            expected.AddRange(bytes);
        }
        Frame("config.json", Encoding.UTF8.GetBytes("{\"model_type\": \"mobilellm\"}"));
        Frame("model.safetensors", [4, 5, 6, 7]);
        Frame("tokenizer.model", [1, 2, 3]);
        string hash = CheckpointHash.Compute(hf, used);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(expected.ToArray())), hash);

        File.WriteAllText(Path.Combine(hf, "README.md"), "changed");
        File.WriteAllBytes(Path.Combine(hf, "pytorch_model.bin"), [8]);
        Assert.Equal(hash, CheckpointHash.Compute(hf, used));
        File.WriteAllBytes(Path.Combine(hf, "model.safetensors"), [4, 5, 6, 8]);
        Assert.NotEqual(hash, CheckpointHash.Compute(hf, used));

        File.Delete(Path.Combine(hf, "config.json"));
        Assert.Throws<FileNotFoundException>(() => CheckpointHash.Compute(hf, used));
    }
}
