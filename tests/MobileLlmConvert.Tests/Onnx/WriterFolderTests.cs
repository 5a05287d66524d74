using System.Security.Cryptography;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using Onnx;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>What the folder holds: shared tensors once, aligned external data, byte-identical reruns, refusals before work.</summary>
public sealed class WriterFolderTests
{
    private static (ModelProto Model, string Folder, TempDir Dir) Write(string fixture, string quant)
    {
        using var ir = WriterModels.Converted(fixture, quant);
        var dir = new TempDir();
        string folder = dir["model"];
        new OnnxFormat().Write(ir, folder, FormatWriteOptions.Default);
        return (ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, OnnxWriter.ModelFile))), folder, dir);
    }

    [Fact]
    public void LayerSharedFolderTracksStoredBytesNotExecutedBytes()
    {
        using var ir = WriterModels.Converted("mobilellm-ls-hd16", "q4");
        Assert.Equal(2 * ir.Config.StoredLayers, ir.Steps.Count);
        var (model, folder, dir) = Write("mobilellm-ls-hd16", "q4");
        using (dir)
        {
            long data = new FileInfo(Path.Combine(folder, OnnxWriter.DataFile)).Length;
            // The rotary caches are model bytes too; everything else must be the stored tensors (+ padding).
            long rotary = model.Graph.Initializer.Where(t => t.Name.StartsWith("const/rotary", StringComparison.Ordinal)).Sum(t => long.Parse(t.ExternalData.Single(e => e.Key == "length").Value));
            Assert.InRange(data - rotary, ir.StoredBytes * 0.9, ir.StoredBytes * 1.1);
            // One cache pair per executed step.
            Assert.Equal(ir.Steps.Count, model.Graph.Input.Count(i => i.Name.StartsWith("past_key_values.", StringComparison.Ordinal) && i.Name.EndsWith(".key", StringComparison.Ordinal)));
            Assert.Equal(ir.Steps.Count, model.Graph.Node.Count(n => n.OpType == "GroupQueryAttention"));
        }
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("q8")]
    public void TiedModelHasOneEmbeddingInitializerUsedByGatherAndHead(string quant)
    {
        var (model, _, dir) = Write("mobilellm-hd32", quant);
        using (dir)
        {
            Assert.Single(model.Graph.Initializer, t => t.Name == "model.embed_tokens.weight");
            Assert.DoesNotContain(model.Graph.Initializer, t => t.Name.StartsWith("lm_head", StringComparison.Ordinal));
            // The embedding lookup and the head both read it (f32: Gather + Transpose; q8: Reshape + MatMulNBits).
            Assert.Equal(2, model.Graph.Node.Count(n => n.Input.Contains("model.embed_tokens.weight")));
        }
    }

    [Fact]
    public void MobiLlamaStoresOneFfn()
    {
        var (model, _, dir) = Write("mobillama-hd16", "q4");
        using (dir)
        {
            var ffn = model.Graph.Initializer.Where(t => t.Name.Contains(".mlp.", StringComparison.Ordinal) && !t.Name.Contains("scales", StringComparison.Ordinal)).Select(t => t.Name).ToList();
            Assert.Equal(["model.layers.0.mlp.gate_proj.MatMul.weight", "model.layers.0.mlp.up_proj.MatMul.weight", "model.layers.0.mlp.down_proj.MatMul.weight"], ffn);
            Assert.Equal(3, model.Graph.Node.Count(n => n.OpType == "MatMulNBits" && n.Input.Contains("model.layers.0.mlp.gate_proj.MatMul.weight")));
        }
    }

    [Fact]
    public void ExternalDataIsAlignedAndRerunsAreByteIdentical()
    {
        var (model, folder, dir) = Write("llama-gqa-hd16", "q4");
        var (_, again, dir2) = Write("llama-gqa-hd16", "q4");
        using (dir)
        using (dir2)
        {
            foreach (var t in model.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            {
                Assert.Equal(OnnxWriter.DataFile, t.ExternalData.Single(e => e.Key == "location").Value);
                Assert.Equal(0, long.Parse(t.ExternalData.Single(e => e.Key == "offset").Value) % OnnxWriter.Alignment);
            }
            Assert.Equal("mlconvert", model.ProducerName);
            Assert.Contains(model.MetadataProps, p => p.Key == "mlconvert.profile" && p.Value == "genai");
            var files = Directory.GetFiles(folder).Select(Path.GetFileName).Order().ToArray();
            Assert.Equal(files, Directory.GetFiles(again).Select(Path.GetFileName).Order().ToArray());
            foreach (var f in files)
                Assert.Equal(SHA256.HashData(File.ReadAllBytes(Path.Combine(folder, f!))), SHA256.HashData(File.ReadAllBytes(Path.Combine(again, f!))));
        }
    }

    [Fact]
    public void FiveBitTypesAreRefusedBeforeAnythingIsWritten()
    {
        using var ir = WriterModels.Converted("llama-gqa-hd16", "q5_0");
        using var dir = new TempDir();
        var e = Assert.Throws<Core.Errors.ModelUsageException>(() => new OnnxFormat().Write(ir, dir["model"], FormatWriteOptions.Default));
        Assert.Contains("q5_0 has no MatMulNBits form", e.Message);
        Assert.False(Directory.Exists(dir["model"]));
        Assert.Contains("q5_0", new OnnxFormat().CannotStore(Core.Passes.QuantPolicy.Parse("q5_0")));
    }

    [Fact]
    public void UnknownProfileIsAUsageError()
    {
        using var ir = WriterModels.Converted("llama-gqa-hd16", "f32");
        using var dir = new TempDir();
        var e = Assert.Throws<Core.Errors.ModelUsageException>(() => new OnnxFormat().Write(ir, dir["model"], FormatWriteOptions.Default with { OnnxProfile = "tflite" }));
        Assert.Contains("unknown ONNX profile 'tflite'", e.Message);
    }
}
