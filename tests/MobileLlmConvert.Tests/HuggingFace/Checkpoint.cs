using System.Text.Json.Nodes;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Safetensors;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>Builds small checkpoints in a directory and edits them into hostile or unusual shapes.</summary>
internal static class Checkpoint
{
    public static SyntheticSpec Spec(ModelFamily family) =>
        new() { Family = family, HiddenSize = 32, IntermediateSize = 64, NumKvHeads = family == ModelFamily.MobiLlama ? 4 : 2 };

    public static string Write(string dir, SyntheticSpec spec, HfExportOptions? options = null)
    {
        using var ir = SyntheticModel.Create(spec, TensorNames.HuggingFace);
        HfExporter.Export(ir, dir, options ?? new HfExportOptions());
        return dir;
    }

    public static void EditConfig(string dir, Action<JsonObject> edit)
    {
        string path = Path.Combine(dir, HfNames.ConfigFile);
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    /// <summary>Loads a safetensors file into memory, lets <paramref name="edit"/> change the tensor list, writes it back.</summary>
    public static void EditWeights(string path, Action<List<Tensor>> edit)
    {
        List<Tensor> tensors;
        using (var file = SafetensorsFile.Open(path))
        {
            tensors = file.Entries.Select(e => file.GetTensor(e.Name)).Select(t => new Tensor(t.Name, t.Shape, t.Type, new MemorySource(t.Source.ToArray()))).ToList();
        }
        edit(tensors);
        SafetensorsWriter.Write(path, tensors);
    }

    public static Tensor Filled(string name, long[] shape, ElementType type, byte value)
    {
        var bytes = new byte[type.ByteSize(shape)!.Value];
        Array.Fill(bytes, value);
        return new Tensor(name, shape, type, new MemorySource(bytes));
    }
}
