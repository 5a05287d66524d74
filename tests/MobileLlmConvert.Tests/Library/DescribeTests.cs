using MobileLlmConvert.Formats.Gguf;

namespace MobileLlmConvert.Tests.Library;

using Fixtures = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>`Models.Describe`: format, version, tensor count and metadata, as each format stores them.</summary>
public sealed class DescribeTests
{
    [Fact]
    public void Each_format_describes_itself()
    {
        using var dir = new TempDir();
        string ckpt = Fixtures.Path("mobilellm-ls-tiny");
        using var ir = Models.Open(ckpt);
        using var conv = Pipeline.Run(ir, new ConvertOptions { Target = "bundle" });
        Models.Write(conv.Result, dir["m.gguf"]);
        Models.Write(conv.Result, dir["m.mlcm"]);
        string sha = Models.CheckpointSha256(ir)!;
        Models.Write(conv.Result, dir["b"], new WriteOptions { Format = "bundle", SourceCheckpointSha256 = sha });

        var hf = Models.Describe(ckpt);
        Assert.Equal(("huggingface", (string?)null, ir.Tensors.Count), (hf.Format, hf.Version, hf.Tensors));
        Assert.Contains(new KeyValuePair<string, string>("layers_executed", ir.Config.ExecutedLayers.ToString()), hf.Metadata);

        var gguf = Models.Describe(dir["m.gguf"]);
        var header = GgufFile.ReadMetadata(dir["m.gguf"]);
        Assert.Equal(("gguf", "3", header.Tensors.Count), (gguf.Format, gguf.Version, gguf.Tensors));
        Assert.Contains(new KeyValuePair<string, string>("general.architecture", "llama"), gguf.Metadata);

        var mobile = Models.Describe(dir["m.mlcm"]);
        Assert.Equal(("mobile", conv.Result.Tensors.Count), (mobile.Format, mobile.Tensors));

        var bundle = Models.Describe(dir["b"]);
        Assert.Equal("bundle", bundle.Format);
        Assert.Contains(new KeyValuePair<string, string>("manifest.source_checkpoint_sha256", sha), bundle.Metadata);
        Assert.Contains(bundle.Metadata, kv => kv.Key == "manifest.file.model.mlcm");
    }
}
