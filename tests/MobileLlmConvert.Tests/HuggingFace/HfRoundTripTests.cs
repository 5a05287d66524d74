using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>SyntheticModel -> HfExporter -> HfImporter gives the same IR: config, steps, shapes and tensor bytes.</summary>
public sealed class HfRoundTripTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, ModelFamily, bool, bool, ElementType, int> Cases() => new()
    {
        { "llama", ModelFamily.Llama, false, false, ElementType.F32, 1 },
        { "llama-tied", ModelFamily.Llama, true, false, ElementType.F16, 1 },
        { "llama-sharded-3", ModelFamily.Llama, false, false, ElementType.BF16, 3 },
        { "mobilellm", ModelFamily.MobileLLM, true, false, ElementType.BF16, 1 },
        { "mobilellm-untied", ModelFamily.MobileLLM, false, false, ElementType.F32, 1 },
        { "mobilellm-ls", ModelFamily.MobileLLM, true, true, ElementType.F16, 1 },
        { "mobilellm-ls-sharded", ModelFamily.MobileLLM, true, true, ElementType.F16, 2 },
        { "mobillama", ModelFamily.MobiLlama, false, false, ElementType.BF16, 1 },
        { "mobillama-tied-sharded", ModelFamily.MobiLlama, true, false, ElementType.F32, 4 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ExportThenImportGivesTheSameIr(string name, ModelFamily family, bool tied, bool ls, ElementType dtype, int shards)
    {
        var spec = Checkpoint.Spec(family) with { Tied = tied, LayerSharing = ls, DType = dtype, StoredLayers = 3, Seed = (ulong)name.Length };
        using var original = SyntheticModel.Create(spec, TensorNames.HuggingFace);
        string dir = Path.Combine(_dir.Path, name);
        HfExporter.Export(original, dir, new HfExportOptions(Shards: shards));
        using var back = HfImporter.Import(dir);

        Assert.Equal(original.Config, back.Config);
        Assert.Equal(original.Steps, back.Steps);
        Assert.Equal((original.Embedding, original.FinalNorm, original.Output), (back.Embedding, back.FinalNorm, back.Output));
        Assert.Equal(original.Tensors.Select(t => t.Name), back.Tensors.Select(t => t.Name));
        foreach (var t in original.Tensors)
        {
            var b = back[t.Name];
            Assert.Equal(t.Shape, b.Shape);
            Assert.Equal(t.Type, b.Type);
            Assert.True(t.Source.Read().SequenceEqual(b.Source.Read()), t.Name);
        }
        Assert.Equal(original.Tokenizer!.Pieces, back.Tokenizer!.Pieces);
        Assert.Equal(original.Tokenizer.Scores, back.Tokenizer.Scores);
        Assert.Equal(original.Tokenizer.Types, back.Tokenizer.Types);
        Assert.Equal(original.StoredParameters, back.StoredParameters);
        Assert.Equal(original.ExecutedParameters, back.ExecutedParameters);
        int files = Directory.EnumerateFiles(dir, "*.safetensors").Count();
        Assert.Equal(shards, files);
    }

    [Fact]
    public void ReExportOfAnImportedCheckpointIsByteIdentical()
    {
        string a = Checkpoint.Write(Path.Combine(_dir.Path, "a"), Checkpoint.Spec(ModelFamily.MobileLLM) with { Tied = true, LayerSharing = true }, new HfExportOptions(Shards: 2));
        string b = Path.Combine(_dir.Path, "b");
        using (var ir = HfImporter.Import(a)) HfExporter.Export(ir, b, new HfExportOptions(Shards: 2));
        var names = Directory.EnumerateFiles(a).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, Directory.EnumerateFiles(b).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList());
        foreach (var n in names) Assert.Equal(File.ReadAllBytes(Path.Combine(a, n!)), File.ReadAllBytes(Path.Combine(b, n!)));
    }

    [Theory]
    [InlineData(ElementType.F16)]
    [InlineData(ElementType.BF16)]
    public void ExportConvertsDTypeWithFloatConvert(ElementType to)
    {
        using var ir = SyntheticModel.Create(Checkpoint.Spec(ModelFamily.Llama), TensorNames.HuggingFace);
        string dir = Path.Combine(_dir.Path, "conv");
        HfExporter.Export(ir, dir, new HfExportOptions(DType: to));
        using var back = HfImporter.Import(dir);
        Assert.Contains(to == ElementType.F16 ? "\"torch_dtype\": \"float16\"" : "\"torch_dtype\": \"bfloat16\"", File.ReadAllText(Path.Combine(dir, "config.json")));
        foreach (var t in ir.Tensors)
        {
            var values = FloatConvert.ToSingleArray(t);
            var expected = new byte[values.Length * 2];
            FloatConvert.FromSingle(values, to, expected);
            Assert.Equal(to, back[t.Name].Type);
            Assert.Equal(expected, back[t.Name].Source.ToArray());
        }
    }

    [Fact]
    public void ShardsAreConsecutiveNonEmptyAndNearEqual()
    {
        using var ir = SyntheticModel.Create(Checkpoint.Spec(ModelFamily.Llama), TensorNames.HuggingFace);
        var groups = HfExporter.Split(ir.Tensors, 3);
        Assert.Equal(3, groups.Count);
        Assert.Equal(ir.Tensors.Select(t => t.Name), groups.SelectMany(g => g).Select(t => t.Name));
        long total = ir.StoredBytes, largestTensor = ir.Tensors.Max(t => t.ByteLength);
        Assert.All(groups, g => Assert.InRange(g.Sum(t => t.ByteLength), 1, total / 3 + largestTensor));
        var many = HfExporter.Split(ir.Tensors, ir.Tensors.Count);
        Assert.All(many, g => Assert.Single(g));
    }

    [Fact]
    public void ExportIsDeterministicAndReplacesTheTargetDirectory()
    {
        var spec = Checkpoint.Spec(ModelFamily.MobiLlama);
        string a = Checkpoint.Write(Path.Combine(_dir.Path, "a"), spec);
        File.WriteAllText(Path.Combine(a, "stale.txt"), "left over");
        var first = File.ReadAllBytes(Path.Combine(a, "model.safetensors"));
        Checkpoint.Write(a, spec);
        Assert.False(File.Exists(Path.Combine(a, "stale.txt")));
        Assert.Equal(first, File.ReadAllBytes(Path.Combine(a, "model.safetensors")));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_dir.Path), p => Path.GetFileName(p).StartsWith('.'));
    }

    [Fact]
    public void ExportRefusesAMobiLlamaIrThatIsNotFullMha()
    {
        using var ir = SyntheticModel.Create(Checkpoint.Spec(ModelFamily.MobiLlama) with { NumKvHeads = 2 }, TensorNames.HuggingFace);
        var e = Assert.Throws<ArgumentException>(() => HfExporter.Export(ir, Path.Combine(_dir.Path, "x"), new HfExportOptions()));
        Assert.Equal("MobiLlamaForCausalLM is full MHA: num_key_value_heads 2 != num_attention_heads 4", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "x")));
    }

    [Fact]
    public void ExportRefusesStepsNoHfLayoutCanExpress()
    {
        using var ir = SyntheticModel.Create(Checkpoint.Spec(ModelFamily.Llama), TensorNames.HuggingFace);
        var shared = ir with { Steps = [ir.Steps[0], ir.Steps[0].Remap(k => k)], Tensors = ir.Tensors.Where(t => !t.Name.StartsWith("model.layers.1.", StringComparison.Ordinal)).ToList() };
        var e = Assert.Throws<ArgumentException>(() => HfExporter.Export(shared, Path.Combine(_dir.Path, "x"), new HfExportOptions()));
        Assert.StartsWith("step 1 (model.layers.0.self_attn.q_proj.weight", e.Message);
    }
}
