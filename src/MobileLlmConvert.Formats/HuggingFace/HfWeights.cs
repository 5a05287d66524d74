using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Safetensors;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// The tensors of a checkpoint directory, single-file or sharded, as one name -> file table. Every
/// shard is mapped and validated; every name is in exactly one shard and in the index.
/// </summary>
public sealed class HfWeights
{
    private readonly Dictionary<string, SafetensorsFile> _owner;

    /// <summary>Every stored tensor name, in file order (shard by shard, ascending offsets).</summary>
    public IReadOnlyList<string> Names { get; }
    public IReadOnlyList<SafetensorsFile> Files { get; }
    /// <summary>model.safetensors.index.json when the weights are sharded (it was read too).</summary>
    public string? IndexPath { get; private init; }

    private HfWeights(Dictionary<string, SafetensorsFile> owner, List<string> names, List<SafetensorsFile> files)
    {
        _owner = owner;
        Names = names;
        Files = files;
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public SafetensorsFile FileOf(string name) => _owner[name];

    public Tensor GetTensor(string name) => _owner[name].GetTensor(name);

    /// <summary>
    /// Opens model.safetensors, or the shards model.safetensors.index.json names (transformers'
    /// order of preference). Opened files are added to <paramref name="resources"/>.
    /// </summary>
    public static HfWeights Open(string directory, ResourceBag resources)
    {
        string single = Path.Combine(directory, HfNames.SingleWeightsFile);
        string index = Path.Combine(directory, HfNames.IndexFile);
        if (File.Exists(single))
        {
            var file = resources.Add(SafetensorsFile.Open(single));
            return new HfWeights(file.Entries.ToDictionary(e => e.Name, _ => file, StringComparer.Ordinal),
                file.Entries.Select(e => e.Name).ToList(), [file]);
        }
        if (File.Exists(index)) return OpenSharded(directory, index, resources);
        string configPath = Path.Combine(directory, HfNames.ConfigFile);
        string hint = File.Exists(Path.Combine(directory, HfNames.PickleWeightsFile))
            ? $"{HfNames.PickleWeightsFile} (torch pickle) is not read; save the weights as safetensors"
            : $"expected {HfNames.SingleWeightsFile} or {HfNames.IndexFile}";
        throw new HfConfigException(HfConfigError.NoWeights, configPath, "weights", directory, hint);
    }

    private static HfWeights OpenSharded(string directory, string indexPath, ResourceBag resources)
    {
        var index = HfIndex.Parse(ReadCapped(indexPath, HfIndex.MaxIndexBytes, n => new HfIndexException(HfIndexError.FileTooLarge, indexPath,
            "file length", n.ToString(System.Globalization.CultureInfo.InvariantCulture), $"exceeds the cap of {HfIndex.MaxIndexBytes} bytes")), indexPath);
        var owner = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var shardOf = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new List<string>();
        var files = new List<SafetensorsFile>();
        foreach (var shard in index.Shards)
        {
            var file = resources.Add(SafetensorsFile.Open(HfIndex.ResolveShard(directory, shard, indexPath)));
            files.Add(file);
            foreach (var e in file.Entries)
            {
                if (shardOf.TryGetValue(e.Name, out var first))
                    throw new HfIndexException(HfIndexError.TensorInTwoShards, indexPath, e.Name, $"{first}, {shard}", "tensor stored in two shards");
                shardOf.Add(e.Name, shard);
                owner.Add(e.Name, file);
                names.Add(e.Name);
            }
        }
        foreach (var (name, shard) in index.WeightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!shardOf.TryGetValue(name, out var actual) || actual != shard)
                throw new HfIndexException(HfIndexError.TensorNotInShard, indexPath, $"weight_map.{name}", shard,
                    actual is null ? "the shard does not hold this tensor" : $"the tensor is stored in {actual}");
        }
        foreach (var name in names)
        {
            if (!index.WeightMap.ContainsKey(name))
                throw new HfIndexException(HfIndexError.TensorNotInMap, indexPath, name, shardOf[name], "tensor stored in a shard but missing from weight_map");
        }
        return new HfWeights(owner, names, files) { IndexPath = indexPath };
    }

    /// <summary>Reads a small JSON file after checking its length, so a huge file is refused before it is loaded.</summary>
    internal static byte[] ReadCapped(string path, int cap, Func<long, Exception> tooLarge)
    {
        using var stream = Core.IO.InputFile.OpenRead(path);
        if (stream.Length > cap) throw tooLarge(stream.Length);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
