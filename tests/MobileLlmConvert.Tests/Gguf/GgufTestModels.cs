using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert.Tests.Gguf;

/// <summary>The synthetic models of every family the GGUF tests round-trip, and helpers shared by them.</summary>
public static class GgufTestModels
{
    public static readonly Dictionary<string, SyntheticSpec> Families = new()
    {
        ["llama-gqa-untied"] = new() { Family = ModelFamily.Llama, NumHeads = 4, NumKvHeads = 2, Seed = 11 },
        ["llama-tied"] = new() { Family = ModelFamily.Llama, NumHeads = 4, NumKvHeads = 1, Tied = true, Seed = 12 },
        // head_dim 24 with hidden 64 and 4 heads: query width 96 != hidden, as MobileLLM's own head_dim allows.
        ["mobilellm"] = new() { Family = ModelFamily.MobileLLM, NumHeads = 4, NumKvHeads = 2, HeadDim = 24, Tied = true, DType = ElementType.BF16, Seed = 13 },
        ["mobilellm-ls"] = new() { Family = ModelFamily.MobileLLM, NumHeads = 4, NumKvHeads = 2, Tied = true, LayerSharing = true, DType = ElementType.F16, Seed = 14 },
        ["mobillama"] = new() { Family = ModelFamily.MobiLlama, NumHeads = 4, NumKvHeads = 4, StoredLayers = 3, Seed = 15 },
    };

    public static IEnumerable<object[]> FamilyNames => Families.Keys.Select(k => new object[] { k });

    public static ModelIr Create(string family) => SyntheticModel.Create(Families[family], TensorNames.HuggingFace);

    /// <summary>The same model with every 2-D tensor quantized to <paramref name="type"/> (norms stay as they are).</summary>
    public static ModelIr Quantized(ModelIr ir, ElementType type)
    {
        var tensors = ir.Tensors.Select(t =>
        {
            if (t.Shape.Length != 2) return t;
            var values = FloatConvert.ToSingleArray(t);
            var bytes = new byte[type.ByteSize(t.Shape)!.Value];
            for (int r = 0; r < t.Rows; r++)
            {
                int rowBytes = bytes.Length / t.Rows;
                QuantOps.Quantize(type, values.AsSpan(r * t.Columns, t.Columns), bytes.AsSpan(r * rowBytes, rowBytes));
            }
            return new Tensor(t.Name, t.Shape, type, new MemorySource(bytes));
        }).ToList();
        return WithTensors(ir, tensors);
    }

    /// <summary>
    /// A new IR with another tensor table. Built explicitly rather than with `ir with { Tensors = ... }`:
    /// a record copy shares ModelIr's private name index, and the Tensors setter would refill the
    /// original's index too.
    /// </summary>
    public static ModelIr WithTensors(ModelIr ir, IReadOnlyList<Tensor> tensors) => new()
    {
        Config = ir.Config,
        Tensors = tensors,
        Embedding = ir.Embedding,
        FinalNorm = ir.FinalNorm,
        Output = ir.Output,
        Steps = ir.Steps,
        Tokenizer = ir.Tokenizer,
        SourcePath = ir.SourcePath,
    };

    /// <summary>A fresh temporary directory, deleted with the returned handle.</summary>
    public static TempDir TempDir() => new();
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("mlc-gguf-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
