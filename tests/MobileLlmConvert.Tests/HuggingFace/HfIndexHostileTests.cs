using System.Text.Json.Nodes;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>One hand-built bad sharded checkpoint per <see cref="HfIndexError"/> kind.</summary>
public sealed class HfIndexHostileTests : IDisposable
{
    private const string Shard1 = "model-00001-of-00002.safetensors";
    private const string Shard2 = "model-00002-of-00002.safetensors";
    private const string IndexFile = "model.safetensors.index.json";
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Make() => Checkpoint.Write(Path.Combine(_dir.Path, "ckpt"), Checkpoint.Spec(ModelFamily.Llama), new HfExportOptions(Shards: 2));

    private static void EditIndex(string dir, Action<JsonObject> edit)
    {
        string path = Path.Combine(dir, IndexFile);
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    private static JsonObject Map(JsonObject index) => index["weight_map"]!.AsObject();

    private static void AssertError(HfIndexError kind, string dir, string field, string value)
    {
        var e = Assert.Throws<HfIndexException>(() => HfImporter.Import(dir).Dispose());
        Assert.Equal(kind, e.Kind);
        Assert.Contains(Path.Combine(dir, IndexFile), e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(value, e.Message);
        CliAssert.RejectsWith(dir, e.Message);
    }

    private void AssertIndexError(HfIndexError kind, string text, string field, string value)
    {
        string dir = Make();
        File.WriteAllText(Path.Combine(dir, IndexFile), text);
        AssertError(kind, dir, field, value);
    }

    [Fact]
    public void ShardedCheckpointImports()
    {
        using var ir = HfImporter.Import(Make());
        Assert.Equal(2, ir.Tensors.Select(t => ((MappedSource)t.Source).File.Path).Distinct().Count());
    }

    [Fact]
    public void FileTooLarge()
    {
        var e = Assert.Throws<HfIndexException>(() => HfIndex.Parse(new byte[HfIndex.MaxIndexBytes + 1], "/x/" + IndexFile));
        Assert.Equal(HfIndexError.FileTooLarge, e.Kind);
        Assert.Equal($"/x/{IndexFile}: file length = {HfIndex.MaxIndexBytes + 1}: exceeds the cap of {HfIndex.MaxIndexBytes} bytes", e.Message);
    }

    [Fact]
    public void InvalidJson() => AssertIndexError(HfIndexError.InvalidJson, "{\"weight_map\": {", "(json)", "line 0");

    [Fact]
    public void InvalidJsonBadUtf8()
    {
        string dir = Make();
        File.WriteAllBytes(Path.Combine(dir, IndexFile), [(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}']);
        AssertError(HfIndexError.InvalidJson, dir, "(json)", "invalid UTF-8");
    }

    [Fact]
    public void NotObject() => AssertIndexError(HfIndexError.NotObject, "\"model.safetensors\"", "(root)", "String");

    [Fact]
    public void MissingField() => AssertIndexError(HfIndexError.MissingField, "{\"metadata\": {\"total_size\": 1}}", "weight_map", "(absent)");

    [Fact]
    public void WrongTypeWeightMap() => AssertIndexError(HfIndexError.WrongType, "{\"weight_map\": [1]}", "weight_map", "Array");

    [Fact]
    public void WrongTypeTotalSize() => AssertIndexError(HfIndexError.WrongType, "{\"metadata\": {\"total_size\": \"big\"}, \"weight_map\": {}}", "metadata.total_size", "\"big\"");

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/model.safetensors")]
    [InlineData("..")]
    [InlineData("")]
    public void BadShardName(string shard)
    {
        string dir = Make();
        EditIndex(dir, i => Map(i)["model.norm.weight"] = shard);
        AssertError(HfIndexError.BadShardName, dir, "weight_map.model.norm.weight", shard);
    }

    [Fact]
    public void ShardOutsideDirectory()
    {
        string dir = Make();
        string outside = Path.Combine(_dir.Path, "elsewhere.safetensors");
        File.Move(Path.Combine(dir, Shard2), outside);
        File.CreateSymbolicLink(Path.Combine(dir, Shard2), outside);
        AssertError(HfIndexError.ShardOutsideDirectory, dir, "weight_map", Shard2);
    }

    [Fact]
    public void SymlinkInsideTheDirectoryIsAllowed()
    {
        string dir = Make();
        File.Move(Path.Combine(dir, Shard2), Path.Combine(dir, "real.safetensors.bin"));
        File.CreateSymbolicLink(Path.Combine(dir, Shard2), "real.safetensors.bin");
        using var ir = HfImporter.Import(dir);
        Assert.Equal(2, ir.Config.StoredLayers);
    }

    [Fact]
    public void ShardMissing()
    {
        string dir = Make();
        File.Delete(Path.Combine(dir, Shard2));
        AssertError(HfIndexError.ShardMissing, dir, "weight_map", Shard2);
    }

    [Fact]
    public void TooManyShards()
    {
        var map = new JsonObject();
        for (int i = 0; i <= HfIndex.MaxShards; i++) map[$"t{i}"] = $"s{i}.safetensors";
        var json = new JsonObject { ["weight_map"] = map }.ToJsonString();
        var e = Assert.Throws<HfIndexException>(() => HfIndex.Parse(System.Text.Encoding.UTF8.GetBytes(json), "/x/" + IndexFile));
        Assert.Equal(HfIndexError.TooManyShards, e.Kind);
        Assert.Contains($"weight_map = > {HfIndex.MaxShards} shards", e.Message);
    }

    [Fact]
    public void EmptyWeightMap() => AssertIndexError(HfIndexError.EmptyWeightMap, "{\"weight_map\": {}}", "weight_map", "{}");

    [Fact]
    public void TensorNotInShard()
    {
        string dir = Make();
        EditIndex(dir, i => Map(i)["model.norm.weight"] = Map(i)["model.norm.weight"]!.GetValue<string>() == Shard1 ? Shard2 : Shard1);
        AssertError(HfIndexError.TensorNotInShard, dir, "weight_map.model.norm.weight", "model-0000");
    }

    [Fact]
    public void TensorNotInShardWhenTheMapNamesATensorNobodyHas()
    {
        string dir = Make();
        EditIndex(dir, i => Map(i)["model.layers.9.mlp.up_proj.weight"] = Shard1);
        AssertError(HfIndexError.TensorNotInShard, dir, "weight_map.model.layers.9.mlp.up_proj.weight", Shard1);
    }

    [Fact]
    public void TensorNotInMap()
    {
        string dir = Make();
        EditIndex(dir, i => Map(i).Remove("lm_head.weight"));
        AssertError(HfIndexError.TensorNotInMap, dir, "lm_head.weight", Shard2);
    }

    [Fact]
    public void TensorInTwoShards()
    {
        string dir = Make();
        Tensor? embed = null;
        Checkpoint.EditWeights(Path.Combine(dir, Shard1), ts => embed = ts.Single(t => t.Name == "model.embed_tokens.weight"));
        Checkpoint.EditWeights(Path.Combine(dir, Shard2), ts => ts.Add(embed!));
        AssertError(HfIndexError.TensorInTwoShards, dir, "model.embed_tokens.weight", $"{Shard1}, {Shard2}");
    }

    [Fact]
    public void DuplicateName() =>
        AssertIndexError(HfIndexError.DuplicateName, $"{{\"weight_map\": {{\"a\": \"{Shard1}\", \"a\": \"{Shard2}\"}}}}", "weight_map.a", "(twice)");

    [Fact]
    public void EveryErrorKindHasAHostileIndexHere()
    {
        var tested = typeof(HfIndexHostileTests).GetMethods().Select(m => m.Name).ToList();
        foreach (var kind in Enum.GetNames<HfIndexError>())
        {
            Assert.True(tested.Any(n => n.StartsWith(kind, StringComparison.Ordinal)), $"no test for {kind}");
        }
    }
}
