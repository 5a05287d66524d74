using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Safetensors;

namespace MobileLlmConvert.Tests.Conversion;

/// <summary>Synthetic models: lazily generated on every core, with the bytes of one serial random stream.</summary>
public class SynthTests
{
    /// <summary>
    /// The generator as it was written before it went parallel: one SplitMix64 stream drawn value by
    /// value through every tensor in creation order. Committed fixtures were made this way.
    /// </summary>
    private static Dictionary<string, byte[]> SerialReference(SyntheticSpec spec, ModelIr ir)
    {
        var rng = new SplitMix64(spec.Seed);
        var norms = new HashSet<string>(ir.Steps.SelectMany(s => new[] { s.AttnNorm, s.FfnNorm }).Append(ir.FinalNorm));
        var result = new Dictionary<string, byte[]>();
        foreach (var t in ir.Tensors)
        {
            bool norm = norms.Contains(t.Name);
            float std = norm ? 0.1f : t.Name == ir.Embedding ? 1.0f : spec.InitStd;
            var values = new float[t.ElementCount];
            for (int i = 0; i < values.Length; i++) values[i] = norm ? 1f + std * rng.NextGaussian() : std * rng.NextGaussian();
            var bytes = new byte[values.Length * spec.DType.Info().BlockBytes];
            FloatConvert.FromSingle(values, spec.DType, bytes);
            result[t.Name] = bytes;
        }
        return result;
    }

    [Theory]
    [InlineData(ModelFamily.MobileLLM, true, false, ElementType.BF16)]
    [InlineData(ModelFamily.MobiLlama, false, false, ElementType.F32)]
    [InlineData(ModelFamily.Llama, false, true, ElementType.F16)]
    public void ParallelLazyGenerationGivesTheSerialStreamsBytes(ModelFamily family, bool tied, bool layerSharing, ElementType dtype)
    {
        // The embedding (8192 x 96 values) spans several row blocks, so rows are made on several threads.
        var spec = new SyntheticSpec
        {
            Family = family, Tied = tied, LayerSharing = layerSharing && family == ModelFamily.MobileLLM, DType = dtype,
            VocabSize = 8192, HiddenSize = 96, IntermediateSize = 160, NumHeads = 4, NumKvHeads = family == ModelFamily.MobiLlama ? 4 : 2,
            StoredLayers = 3, Seed = 77,
        };
        var ir = SyntheticModel.Create(spec, TensorNames.HuggingFace);
        var expected = SerialReference(spec, ir);
        foreach (var t in ir.Tensors)
        {
            Assert.True(expected[t.Name].AsSpan().SequenceEqual(t.Source.ToArray()), t.Name);
            Assert.True(expected[t.Name].AsSpan().SequenceEqual(t.Source.ToArray()), $"{t.Name}, read again");
        }
    }

    [Theory]
    [InlineData("mobilellm-125m", 124_635_456L, "MobileLLMForCausalLM", true)]
    [InlineData("mobilellm-350m", 345_355_200L, "MobileLLMForCausalLM", true)]
    [InlineData("mobilellm-600m", 603_188_352L, "MobileLLMForCausalLM", true)]
    [InlineData("mobilellm-1b", 1_005_461_760L, "MobileLLMForCausalLM", true)]
    [InlineData("mobilellm-1.5b", 1_511_188_800L, "LlamaForCausalLM", false)]
    public void MobileLlmPresetsHaveThePublishedParameterCounts(string name, long withoutHead, string architecture, bool tied)
    {
        var ir = SyntheticPresets.Find(name)!.Create(TensorNames.HuggingFace);
        long head = tied ? 0 : ir[ir.Output].ElementCount;
        Assert.Equal(withoutHead, ir.StoredParameters - head);
        Assert.Equal(architecture, ir.Config.Architecture);
        Assert.Equal(tied, ir.IsTied);
        Assert.Equal(64, ir.Config.HeadDim);
    }

    [Theory]
    [InlineData("mobillama-0.5b", 2048, 22, true)]
    [InlineData("mobillama-0.8b", 2560, 22, true)]
    [InlineData("mobillama-1b", 2048, 22, false)]
    public void MobiLlamaPresetsShareTheFfnExceptThe1B(string name, int hidden, int layers, bool sharedFfn)
    {
        var ir = SyntheticPresets.Find(name)!.Create(TensorNames.HuggingFace);
        Assert.Equal(ModelFamily.MobiLlama, ir.Config.Family);
        Assert.Equal("MobiLlamaForCausalLM", ir.Config.Architecture);
        Assert.Equal(hidden, ir.Config.HiddenSize);
        Assert.Equal(layers, ir.Steps.Count);
        Assert.Equal(ir.Config.NumHeads, ir.Config.NumKvHeads);
        Assert.Equal(sharedFfn ? 1 : layers, ir.Steps.Select(s => s.Gate).Distinct().Count());
    }

    /// <summary>Large enough that the embedding spans many of the exporter's chunks, written by several threads.</summary>
    private static readonly SyntheticSpec ExportSpec = new()
    {
        Family = ModelFamily.MobileLLM, Tied = true, LayerSharing = true, VocabSize = 24000, HiddenSize = 512, IntermediateSize = 768,
        NumHeads = 8, NumKvHeads = 2, StoredLayers = 2, DType = ElementType.BF16, Seed = 5,
    };

    [Fact]
    public void ExportStreamsTheBytesOfTheTensorWriterAndRerunsAreByteIdentical()
    {
        using var dir = new TempDir();
        using var ir = SyntheticModel.Create(ExportSpec, TensorNames.HuggingFace);
        HfExporter.Export(ir, dir["a"], new HfExportOptions());
        HfExporter.Export(ir, dir["b"], new HfExportOptions());
        // The whole-tensor path every other writer takes (TensorPipeline), for the same tensors.
        SafetensorsWriter.Write(dir["reference.safetensors"], ir.Tensors, SafetensorsWriter.PyTorchMetadata);

        var reference = File.ReadAllBytes(dir["reference.safetensors"]);
        Assert.True(reference.Length > 3 * Core.IO.RangePipeline.ChunkBytes);
        Assert.True(reference.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["a"], HfNames.SingleWeightsFile))));
        foreach (var f in Directory.GetFiles(dir["a"]))
            Assert.True(File.ReadAllBytes(f).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["b"], Path.GetFileName(f)))), f);
    }

    /// <summary>A ranged source that fails once a reader reaches byte <c>failAt</c>.</summary>
    private sealed class FailingSource(long length, long failAt) : TensorSource
    {
        public override long Length => length;
        public override bool CanCopyRanges => true;
        public override void CopyTo(Span<byte> destination) => CopyRange(0, destination[..(int)length]);
        public override void CopyRange(long offset, Span<byte> destination)
        {
            if (offset + destination.Length > failAt) throw new IOException("No space left on device");
            destination.Clear();
        }
    }

    [Fact]
    public void AnExportThatFailsMidwayLeavesNothingBehind()
    {
        using var dir = new TempDir();
        using var ir = SyntheticModel.Create(ExportSpec, TensorNames.HuggingFace);
        // The last tensor fails after the embedding and most blocks have been written.
        var last = ir.Tensors[^1];
        var broken = ir with { Tensors = [.. ir.Tensors.SkipLast(1), new Tensor(last.Name, last.Shape, last.Type, new FailingSource(last.ByteLength, last.ByteLength / 2))] };
        var e = Assert.Throws<IOException>(() => HfExporter.Export(broken, dir["out"], new HfExportOptions()));

        Assert.Equal("No space left on device", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }
}
