using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Torch;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// inspect's view of how a Hugging Face checkpoint stores its weights: the container (safetensors or
/// torch.save zip, single or sharded), the dtypes as the files spell them, and the names that alias
/// one torch storage (which the importer folds into one IR tensor).
/// </summary>
internal sealed record InspectWeights(HfWeightContainer Container, IReadOnlyList<string> Files, IReadOnlyDictionary<string, int> StoredDTypes, IReadOnlyList<TorchAlias> Aliases)
{
    /// <summary>Null for anything but a checkpoint directory (GGUF and mobile files have their own headers).</summary>
    public static InspectWeights? Of(string path, Formats.IModelFormat kind)
    {
        if (kind is not Formats.HuggingFace.HuggingFaceFormat) return null;
        using var bag = new ResourceBag();
        var w = HfWeights.Open(path, bag);
        return new InspectWeights(w.Container, w.Files.Select(f => Path.GetFileName(f.Path)).ToList(), w.StoredDTypes, w.Aliases);
    }

    public static string ContainerName(HfWeightContainer c) => c switch
    {
        HfWeightContainer.Safetensors => "safetensors",
        HfWeightContainer.ShardedSafetensors => "sharded safetensors",
        HfWeightContainer.TorchZip => "torch zip",
        _ => "sharded torch zip",
    };

    public IEnumerable<string> TextLines()
    {
        yield return $"weights: {ContainerName(Container)} ({string.Join(", ", Files)}), stored dtypes "
            + string.Join(", ", StoredDTypes.Select(kv => $"{kv.Key} x{kv.Value}"));
        foreach (var a in Aliases) yield return $"aliases: storage {a.StorageKey}: {string.Join(" = ", a.Names)}";
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject("weights");
        w.WriteString("container", ContainerName(Container));
        w.WriteStrings("files", Files);
        w.WriteStartObject("stored_dtypes");
        foreach (var (name, count) in StoredDTypes) w.WriteNumber(name, count);
        w.WriteEndObject();
        w.WriteStartArray("aliases");
        foreach (var a in Aliases)
        {
            w.WriteStartObject();
            w.WriteString("storage", a.StorageKey);
            w.WriteStrings("names", a.Names);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
