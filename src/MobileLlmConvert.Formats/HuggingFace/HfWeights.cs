using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Torch;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// The tensors of a checkpoint directory, single-file or sharded, safetensors or torch.save zips, as
/// one name -> file table. Every file is mapped and validated; every name is in exactly one shard and
/// in the index. Torch files may store one storage under several names: <see cref="CanonicalName"/>
/// folds those to one key, so the IR holds the bytes once.
/// </summary>
internal sealed class HfWeights
{
    private readonly Dictionary<string, HfWeightFile> _owner;

    /// <summary>Every stored tensor name, in file order (shard by shard).</summary>
    public IReadOnlyList<string> Names { get; }
    public IReadOnlyList<HfWeightFile> Files { get; }
    public HfWeightContainer Container { get; }
    /// <summary>The weight files (and index, <see cref="IndexName"/>) as named in the checkpoint folder, before symlinks are followed: what a bundle's source hash covers.</summary>
    public IReadOnlyList<string> FileNames { get; private init; } = [];
    /// <summary>The shard index's name in the checkpoint folder when the weights are sharded (it was read too).</summary>
    public string? IndexName { get; private init; }

    private HfWeights(HfWeightContainer container, Dictionary<string, HfWeightFile> owner, List<string> names, List<HfWeightFile> files)
    {
        Container = container;
        _owner = owner;
        Names = names;
        Files = files;
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public HfWeightFile FileOf(string name) => _owner[name];

    public Tensor GetTensor(string name) => _owner[name].GetTensor(name);

    /// <summary>The name the IR uses for <paramref name="name"/>'s bytes: the first name aliasing the same storage view (itself otherwise).</summary>
    public string CanonicalName(string name) => _owner.TryGetValue(name, out var f) ? f.CanonicalName(name) : name;

    /// <summary>Groups of names over one storage's bytes, file by file (torch only).</summary>
    public IReadOnlyList<TorchAlias> Aliases => Files.SelectMany(f => f.Aliases).ToList();

    /// <summary>Stored dtype (as the file spells it) -> number of names, ordinal order.</summary>
    public IReadOnlyDictionary<string, int> StoredDTypes =>
        Names.GroupBy(n => _owner[n].StoredDType(n), StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>
    /// Opens, in transformers' order of preference, model.safetensors, the shards of
    /// model.safetensors.index.json, pytorch_model.bin, or the shards of pytorch_model.bin.index.json
    /// (transformers' modeling_utils: SAFE_WEIGHTS_NAME before WEIGHTS_NAME; MobiLlama-1B ships both).
    /// Opened files are added to <paramref name="resources"/>.
    /// </summary>
    public static HfWeights Open(string directory, ResourceBag resources) => Open(HfCheckpointDir.Open(directory), resources);

    /// <summary>As <see cref="Open(string, ResourceBag)"/>; every file is found through <paramref name="dir"/>'s symlink rule.</summary>
    public static HfWeights Open(HfCheckpointDir dir, ResourceBag resources)
    {
        string directory = dir.Folder;
        var layouts = new (string File, bool Sharded, HfWeightContainer Container, Func<string, HfWeightFile> Open)[]
        {
            (HfNames.SingleWeightsFile, false, HfWeightContainer.Safetensors, HfWeightFile.OpenSafetensors),
            (HfNames.IndexFile, true, HfWeightContainer.ShardedSafetensors, HfWeightFile.OpenSafetensors),
            (HfNames.PickleWeightsFile, false, HfWeightContainer.TorchZip, HfWeightFile.OpenTorch),
            (HfNames.PickleIndexFile, true, HfWeightContainer.ShardedTorchZip, HfWeightFile.OpenTorch),
        };
        foreach (var (name, sharded, container, open) in layouts)
        {
            string? path = dir.TryResolveFile(name);
            if (path is null) continue;
            if (sharded) return OpenSharded(dir, path, container, open, resources);
            var file = resources.Add(open(path));
            return new HfWeights(container, file.Names.ToDictionary(n => n, _ => file, StringComparer.Ordinal), [.. file.Names], [file]) { FileNames = [name] };
        }
        string configPath = Path.Combine(directory, HfNames.ConfigFile);
        throw new HfConfigException(HfConfigError.NoWeights, configPath, "weights", directory,
            $"expected {string.Join(", ", layouts.Select(l => l.File).SkipLast(1))} or {layouts[^1].File}");
    }

    private static HfWeights OpenSharded(HfCheckpointDir directory, string indexPath, HfWeightContainer container, Func<string, HfWeightFile> open, ResourceBag resources)
    {
        var index = HfIndex.Parse(ReadCapped(indexPath, HfIndex.MaxIndexBytes, n => new HfIndexException(HfIndexError.FileTooLarge, indexPath,
            "file length", n.ToString(System.Globalization.CultureInfo.InvariantCulture), $"exceeds the cap of {HfIndex.MaxIndexBytes} bytes")), indexPath);
        var owner = new Dictionary<string, HfWeightFile>(StringComparer.Ordinal);
        var shardOf = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new List<string>();
        var files = new List<HfWeightFile>();
        foreach (var shard in index.Shards)
        {
            var file = resources.Add(open(HfIndex.ResolveShard(directory, shard, indexPath)));
            files.Add(file);
            foreach (var name in file.Names)
            {
                if (shardOf.TryGetValue(name, out var first))
                    throw new HfIndexException(HfIndexError.TensorInTwoShards, indexPath, name, $"{first}, {shard}", "tensor stored in two shards");
                shardOf.Add(name, shard);
                owner.Add(name, file);
                names.Add(name);
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
        return new HfWeights(container, owner, names, files) { FileNames = [.. index.Shards], IndexName = Path.GetFileName(indexPath) };
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
