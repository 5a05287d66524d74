using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Fixtures;

public sealed class FixtureTests(ITestOutputHelper output)
{
    public const string RegenVariable = "MLC_REGEN_FIXTURES";
    private static readonly string[] ExpectedFiles = ["config.json", "tokenizer.model", "tokenizer_config.json"];

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var f in FixtureCatalog.All) data.Add(f.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CommittedFixturesMatchTheBuilder(string name)
    {
        var fixture = FixtureCatalog.Get(name);
        if (Environment.GetEnvironmentVariable(RegenVariable) == "1")
        {
            fixture.WriteTo(fixture.CommittedPath);
            output.WriteLine($"{RegenVariable}=1: rewrote {fixture.CommittedPath}");
            return;
        }
        using var temp = new TempDir();
        string built = Path.Combine(temp.Path, name);
        fixture.WriteTo(built);
        Assert.True(Directory.Exists(fixture.CommittedPath), $"{fixture.CommittedPath} is missing; run the tests with {RegenVariable}=1 to write it");
        var expected = Listing(built);
        Assert.Equal(expected, Listing(fixture.CommittedPath));
        foreach (var file in expected)
        {
            Assert.True(File.ReadAllBytes(Path.Combine(built, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(fixture.CommittedPath, file))),
                $"{name}/{file} differs from the builder; regenerate on purpose with {RegenVariable}=1");
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CommittedFixturesImportAndValidate(string name)
    {
        var fixture = FixtureCatalog.Get(name);
        using var ir = HfImporter.Import(fixture.CommittedPath);
        // What the builder meant (after the fixture's transform, e.g. copied blocks) is what the importer must see.
        using var expected = fixture.BuildIr();
        Assert.Equal(expected.Config.Family, ir.Config.Family);
        Assert.Equal(expected.Config.StoredLayers, ir.Config.StoredLayers);
        Assert.Equal(expected.Config.NumKvHeads, ir.Config.NumKvHeads);
        Assert.Equal(expected.Steps.Count, ir.Steps.Count);
        // MobileLLM's share_embedding: the model code computes logits with the embedding and never reads a stored head.
        bool headIsEmbedding = expected.Config.TieClaimFlag == "share_embedding";
        Assert.Equal(expected.IsTied || headIsEmbedding, ir.IsTied);
        var expectedTensors = expected.Tensors.Where(t => !(headIsEmbedding && t.Name == "lm_head.weight"));
        Assert.Equal(expectedTensors.Select(t => (t.Name, t.Type)).Order(), ir.Tensors.Select(t => (t.Name, t.Type)).Order());
        Assert.NotNull(ir.Tokenizer);
        Assert.Equal(expected.Config.VocabSize, ir.Tokenizer!.Count);
        foreach (var file in ExpectedFiles) Assert.True(File.Exists(Path.Combine(fixture.CommittedPath, file)), file);
        long bytes = Directory.EnumerateFiles(fixture.CommittedPath).Sum(f => new FileInfo(f).Length);
        output.WriteLine($"{name}: {bytes} bytes, {ir.StoredParameters} stored / {ir.ExecutedParameters} executed parameters");
        Assert.True(bytes < 170_000, $"{name} is {bytes} bytes; fixtures stay small");
    }

    [Fact]
    public void ShardedFixtureHasTwoShardsAndAnIndex()
    {
        var dir = FixtureCatalog.Get("llama-sharded").CommittedPath;
        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"],
            Directory.EnumerateFiles(dir).Select(Path.GetFileName).Where(n => n!.StartsWith("model", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    private static List<string> Listing(string dir) =>
        Directory.EnumerateFiles(dir).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList();
}
