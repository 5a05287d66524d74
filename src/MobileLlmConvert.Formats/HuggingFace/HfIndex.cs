using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using MobileLlmConvert.Formats.Json;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// model.safetensors.index.json: <c>{metadata: {total_size}, weight_map: {tensor name: shard file}}</c>.
/// Shard names come from an untrusted file, so they must be plain file names inside the checkpoint
/// directory (no "..", separators, absolute paths, or symlinks leading out).
/// </summary>
internal sealed record HfIndex(IReadOnlyDictionary<string, string> WeightMap, long? TotalSize)
{
    /// <summary>Real indexes are ~100 KB for 10k-tensor models; 64 MB stops absurd files.</summary>
    public const int MaxIndexBytes = 64 << 20;
    /// <summary>Hub checkpoints use tens of shards; ten thousand open mappings would be an attack.</summary>
    public const int MaxShards = 10_000;

    /// <summary>Distinct shard file names, in ordinal order.</summary>
    public IReadOnlyList<string> Shards => WeightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    public static HfIndex Parse(byte[] json, string path)
    {
        using var doc = StrictJson.ParseObject(json, MaxIndexBytes, maxDepth: 8, "the index", (failure, field, value, reason, inner) =>
            new HfIndexException(failure switch
            {
                JsonFailure.TooLarge => HfIndexError.FileTooLarge,
                JsonFailure.InvalidUtf8 or JsonFailure.Invalid => HfIndexError.InvalidJson,
                _ => HfIndexError.NotObject,
            }, path, field, value, reason, inner));
        var root = doc.RootElement;
        long? total = null;
        if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind != JsonValueKind.Null)
        {
            if (meta.ValueKind != JsonValueKind.Object)
                throw new HfIndexException(HfIndexError.WrongType, path, "metadata", meta.GetRawText(), "must be an object");
            if (meta.TryGetProperty("total_size", out var ts))
            {
                // Some writers emit total_size as a float (e.g. 2200119296.0): accept any non-negative number.
                if (ts.ValueKind != JsonValueKind.Number || !ts.TryGetDouble(out double d) || d < 0 || d > long.MaxValue)
                    throw new HfIndexException(HfIndexError.WrongType, path, "metadata.total_size", ts.GetRawText(), "must be a non-negative number");
                total = (long)d;
            }
        }
        if (!root.TryGetProperty("weight_map", out var map))
            throw new HfIndexException(HfIndexError.MissingField, path, "weight_map", "(absent)", "required field");
        if (map.ValueKind != JsonValueKind.Object)
            throw new HfIndexException(HfIndexError.WrongType, path, "weight_map", map.ValueKind.ToString(), "must be an object of tensor name -> shard file");
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        var shards = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new HfIndexException(HfIndexError.WrongType, path, $"weight_map.{p.Name}", p.Value.GetRawText(), "must be a shard file name");
            string shard = p.Value.GetString()!;
            CheckShardName(shard, path, $"weight_map.{p.Name}");
            if (!weightMap.TryAdd(p.Name, shard))
                throw new HfIndexException(HfIndexError.DuplicateName, path, $"weight_map.{p.Name}", "(twice)", "tensor name appears more than once");
            if (shards.Add(shard) && shards.Count > MaxShards)
                throw new HfIndexException(HfIndexError.TooManyShards, path, "weight_map", $"> {MaxShards} shards", $"more than {MaxShards} shard files");
        }
        if (weightMap.Count == 0)
            throw new HfIndexException(HfIndexError.EmptyWeightMap, path, "weight_map", "{}", "lists no tensors");
        return new HfIndex(weightMap, total);
    }

    private static void CheckShardName(string shard, string path, string field)
    {
        bool bad = shard.Length == 0 || shard == "." || shard == ".." || shard.Contains("..", StringComparison.Ordinal)
            || shard.IndexOfAny(['/', '\\', ':', '\0']) >= 0 || Path.IsPathRooted(shard);
        if (bad)
            throw new HfIndexException(HfIndexError.BadShardName, path, field, shard, "a shard must be a plain file name inside the checkpoint directory");
    }

    /// <summary>The full path of a shard in <paramref name="directory"/> (see <see cref="ResolveShard(HfCheckpointDir, string, string)"/>).</summary>
    public static string ResolveShard(string directory, string shard, string indexPath) => ResolveShard(HfCheckpointDir.Open(directory), shard, indexPath);

    /// <summary>
    /// The full path of a shard, by the checkpoint folder's one symlink rule (<see cref="HfCheckpointDir"/>),
    /// reported as index errors: a missing or dangling shard, a symlink resolving outside the root.
    /// </summary>
    public static string ResolveShard(HfCheckpointDir directory, string shard, string indexPath)
    {
        var found = directory.Lookup(shard);
        return found.Status switch
        {
            HfFileStatus.Found => found.Path,
            HfFileStatus.Missing => throw new HfIndexException(HfIndexError.ShardMissing, indexPath, "weight_map", shard, "shard file does not exist"),
            HfFileStatus.Dangling => throw new HfIndexException(HfIndexError.ShardMissing, indexPath, "weight_map", shard,
                $"symlink target {found.Target} does not exist (an interrupted download?)"),
            HfFileStatus.OutsideRoot => throw new HfIndexException(HfIndexError.ShardOutsideDirectory, indexPath, "weight_map", shard,
                $"symlink resolves to {found.Target}, outside {directory.Root}"),
            _ => throw directory.Refuse(found),
        };
    }

    /// <summary>The index as transformers writes it: indent 2, keys sorted.</summary>
    public byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", TotalSize ?? 0);
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (name, shard) in WeightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(name, shard);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return [.. buffer.WrittenSpan, (byte)'\n'];
    }
}
