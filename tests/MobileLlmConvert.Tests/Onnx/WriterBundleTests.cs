using System.Security.Cryptography;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.Onnx;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>
/// `hf2mobile --format onnx`: a bundle whose manifest lists the ONNX folder's files, opened by every
/// reader of a bundle through the manifest check and then the ONNX reader.
/// </summary>
public sealed class WriterBundleTests
{
    private static string Tiny => Path.Combine(Fixtures.FixtureCatalog.RepoRoot, "testdata", "models", "llama-tiny");

    private static readonly string[] OnnxFiles = ["model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model"];

    private static string OnnxBundle(TempDir dir, string name = "b", params string[] options)
    {
        var r = CliRunner.Run(["hf2mobile", Tiny, "-o", dir[name], "--format", "onnx", .. options]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return dir[name];
    }

    private static BundleManifest Manifest(string bundle) =>
        BundleManifest.Parse(File.ReadAllBytes(Path.Combine(bundle, MobileBundle.ManifestFileName)), "manifest.json");

    private static string Sha256(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    [Fact]
    public void The_manifest_lists_every_folder_file_with_size_and_sha256_and_names_model_onnx()
    {
        using var dir = new TempDir();
        string bundle = OnnxBundle(dir);
        var manifest = Manifest(bundle);
        Assert.Equal("model.onnx", manifest.Model);
        Assert.Equal(OnnxFiles, manifest.Files.Select(f => f.Path));
        foreach (var f in manifest.Files)
        {
            string file = Path.Combine(bundle, f.Path);
            Assert.Equal(new FileInfo(file).Length, f.Bytes);
            Assert.Equal(Sha256(file), f.Sha256);
        }
        Assert.Equal(OnnxFiles.Append("manifest.json").Order(StringComparer.Ordinal), Directory.GetFiles(bundle).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
        Assert.Contains("\"model\": \"model.onnx\"", File.ReadAllText(Path.Combine(bundle, MobileBundle.ManifestFileName)));
    }

    [Fact]
    public void The_folder_files_equal_convert_to_onnx_and_a_rerun_is_byte_identical()
    {
        using var dir = new TempDir();
        string bundle = OnnxBundle(dir);
        var c = CliRunner.Run("convert", Tiny, "--to", "onnx", "-o", dir["folder"]);
        Assert.True(c.ExitCode == 0, c.ToString());
        foreach (string name in OnnxFiles)
            Assert.True(File.ReadAllBytes(Path.Combine(dir["folder"], name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(bundle, name))), name);

        var first = Directory.GetFiles(bundle).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        // Replaced in place without --force (our own bundle), and written afresh elsewhere: the same bytes.
        OnnxBundle(dir);
        string other = OnnxBundle(dir, "b2");
        foreach (var d in new[] { bundle, other })
        {
            Assert.Equal(first.Keys.Order(StringComparer.Ordinal), Directory.GetFiles(d).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
            foreach (var (name, bytes) in first)
                Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(d, name))), $"{d}/{name}");
        }
    }

    [Fact]
    public void Readers_open_it_through_the_manifest_then_the_onnx_reader()
    {
        using var dir = new TempDir();
        string bundle = OnnxBundle(dir);
        Assert.Equal(MobileBundleFormat.FormatName, ModelFormats.Detect(bundle).Name);
        var c = CliRunner.Run("convert", Tiny, "--to", "onnx", "-o", dir["folder"]);
        Assert.True(c.ExitCode == 0, c.ToString());
        using var fromBundle = Models.Open(bundle);
        using var fromFolder = Models.Open(dir["folder"]);
        Assert.Equal(fromFolder.Config, fromBundle.Config);
        Assert.Equal(fromFolder.Tensors.Select(t => (t.Name, t.Type)), fromBundle.Tensors.Select(t => (t.Name, t.Type)));
        foreach (var (a, b) in fromFolder.Tensors.Zip(fromBundle.Tensors))
            Assert.True(a.Source.Read().SequenceEqual(b.Source.Read()), a.Name);

        var d = Models.Describe(bundle);
        Assert.Equal(MobileBundleFormat.FormatName, d.Format);
        Assert.Contains(new KeyValuePair<string, string>("manifest.model", "model.onnx"), d.Metadata);
        Assert.Contains(new KeyValuePair<string, string>("producer_name", "mlconvert"), d.Metadata);

        var v = CliRunner.Run("verify", bundle, "--bundle-only");
        Assert.True(v.ExitCode == 0, v.ToString());
        Assert.StartsWith($"{bundle}: bundle OK: 6 file(s), ", v.Stdout);

        var i = CliRunner.Run("inspect", bundle, "--no-tensors");
        Assert.True(i.ExitCode == 0, i.ToString());
        Assert.Contains($"bundle: {bundle}", i.Stdout);
        Assert.Contains("  verification: OK", i.Stdout);
        Assert.Contains("file: model.onnx.data", i.Stdout);
        Assert.Contains($"{bundle} (bundle)", i.Stdout);

        var g = CliRunner.Run("logits", bundle, "--tokens", "1,2,3");
        var f = CliRunner.Run("logits", dir["folder"], "--tokens", "1,2,3");
        Assert.True(g.ExitCode == 0, g.ToString());
        Assert.Equal(f.Stdout.Replace(dir["folder"], "M"), g.Stdout.Replace(bundle, "M"));
    }

    [Fact]
    public void A_tampered_data_file_is_refused_by_every_reader()
    {
        using var dir = new TempDir();
        string bundle = OnnxBundle(dir);
        var manifest = Manifest(bundle);
        string data = Path.Combine(bundle, "model.onnx.data");
        var bytes = File.ReadAllBytes(data);
        bytes[^1] ^= 1;
        File.WriteAllBytes(data, bytes);
        string expected = $"{Path.Combine(bundle, "manifest.json")}: files[1].sha256 = {manifest.Files[1].Sha256}: model.onnx.data hashes to {Sha256(data)}";
        var e = Assert.Throws<BundleException>(() => Models.Open(bundle).Dispose());
        Assert.Equal(expected, e.Message);
        var v = CliRunner.Run("verify", bundle, "--bundle-only");
        Assert.Equal(2, v.ExitCode);
        Assert.Equal($"mlconvert: error: {expected}{Environment.NewLine}", v.Stderr);
        var l = CliRunner.Run("logits", bundle, "--tokens", "1");
        Assert.Equal(2, l.ExitCode);
        Assert.Equal($"mlconvert: error: {expected}{Environment.NewLine}", l.Stderr);
    }

    [Fact]
    public void A_manifest_naming_another_model_file_is_refused()
    {
        using var dir = new TempDir();
        string bundle = OnnxBundle(dir);
        string path = Path.Combine(bundle, "manifest.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"model\": \"model.onnx\"", "\"model\": \"model.gguf\""));
        var e = Assert.Throws<BundleException>(() => MobileBundle.VerifyManifest(bundle));
        Assert.Equal(BundleError.BadField, e.Kind);
        Assert.Equal($"{path}: model = model.gguf: the model file of a version-1 bundle is one of model.mlcm, model.onnx", e.Message);
        var v = CliRunner.Run("verify", bundle, "--bundle-only");
        Assert.Equal(2, v.ExitCode);
        Assert.Equal($"mlconvert: error: {e.Message}{Environment.NewLine}", v.Stderr);
    }

    [Fact]
    public void Types_the_onnx_writer_cannot_store_are_refused_before_any_work()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"], "--format", "onnx", "--quant", "q5_0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("q5_0 has no MatMulNBits form", r.Stderr);
        Assert.False(Directory.Exists(dir["b"]));
        var f = CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"], "--format", "tflite");
        Assert.Equal(2, f.ExitCode);
        Assert.False(Directory.Exists(dir["b"]));
    }

    [Fact]
    public void The_default_format_is_still_a_mobile_bundle()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("hf2mobile", Tiny, "-o", dir["b"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(MobileBundle.ModelFileName, Manifest(dir["b"]).Model);
        Assert.Equal(new[] { "manifest.json", "model.mlcm" }, Directory.GetFiles(dir["b"]).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
    }
}
