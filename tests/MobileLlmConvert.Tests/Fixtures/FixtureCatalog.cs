using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Tests.Fixtures;

/// <summary>
/// One committed checkpoint under testdata/models/: a synthetic spec, an optional IR transform
/// (e.g. copying LS blocks or FFNs, repeating KV heads) and the export options.
/// </summary>
public sealed record Fixture(string Name, SyntheticSpec Spec, HfExportOptions Options, Func<ModelIr, ModelIr>? Transform = null)
{
    public ModelIr BuildIr()
    {
        var ir = SyntheticModel.Create(Spec, TensorNames.HuggingFace);
        return Transform is null ? ir : Transform(ir);
    }

    /// <summary>Writes the fixture's Hugging Face directory (replacing <paramref name="dir"/> atomically).</summary>
    public void WriteTo(string dir)
    {
        using var ir = BuildIr();
        HfExporter.Export(ir, dir, Options);
    }

    public string CommittedPath => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "models", Name);
}

/// <summary>
/// The named tiny checkpoints of every family. Hidden 32 / intermediate 64 (instead of the
/// SyntheticSpec defaults 64 / 128) keeps every fixture near or under 150 KB, F32 included;
/// heads 4 / kv heads 2 / 2 stored layers / vocab 320 are the defaults. Add a fixture by adding a row.
/// </summary>
public static class FixtureCatalog
{
    private static SyntheticSpec Tiny(ModelFamily family, ulong seed, ElementType dtype) =>
        new() { Family = family, HiddenSize = 32, IntermediateSize = 64, Seed = seed, DType = dtype };

    public static IReadOnlyList<Fixture> All { get; } =
    [
        new("llama-tiny", Tiny(ModelFamily.Llama, 11, ElementType.F32), new HfExportOptions()),
        new("llama-tiny-tied", Tiny(ModelFamily.Llama, 12, ElementType.F16) with { Tied = true }, new HfExportOptions()),
        new("mobilellm-tiny", Tiny(ModelFamily.MobileLLM, 13, ElementType.BF16) with { Tied = true }, new HfExportOptions()),
        new("mobilellm-ls-tiny", Tiny(ModelFamily.MobileLLM, 14, ElementType.F16) with { Tied = true, LayerSharing = true }, new HfExportOptions()),
        // MobiLlama is full MHA: kv heads = heads.
        new("mobillama-tiny", Tiny(ModelFamily.MobiLlama, 15, ElementType.BF16) with { NumKvHeads = 4 }, new HfExportOptions()),
        new("llama-sharded", Tiny(ModelFamily.Llama, 16, ElementType.BF16), new HfExportOptions(Shards: 2)),
        // The sharing issue's checkpoints: each stores something twice (or claims what is not so)
        // and the sharing passes must find it by content, never by name or flag.
        new("mobilellm-ls-copied", Tiny(ModelFamily.MobileLLM, 17, ElementType.F16) with { Tied = true, LayerSharing = true },
            new HfExportOptions(), ir => SyntheticVariants.UnshareSteps(ir, TensorNames.HuggingFace)),
        new("mobillama-ffn-copies", Tiny(ModelFamily.MobiLlama, 18, ElementType.BF16) with { NumKvHeads = 4, StoredLayers = 3 },
            new HfExportOptions(), ir => SyntheticVariants.UnshareSteps(ir, TensorNames.HuggingFace)),
        new("llama-mha-repeated-kv", Tiny(ModelFamily.Llama, 19, ElementType.BF16), new HfExportOptions(), SyntheticVariants.RepeatKvHeads),
        new("llama-untied-claims-tied", Tiny(ModelFamily.Llama, 20, ElementType.BF16),
            new HfExportOptions(), ir => SyntheticVariants.ClaimTie(ir, "tie_word_embeddings")),
        new("mobilellm-with-lm-head", Tiny(ModelFamily.MobileLLM, 21, ElementType.BF16) with { Tied = true },
            new HfExportOptions(), ir => SyntheticVariants.StoreHeadCopy(ir, TensorNames.HuggingFace)),
        // MobiLlama-1B's layout (issue 8): MobiLlama's name and config, distinct FFNs per block.
        new("mobillama-unshared", Tiny(ModelFamily.Llama, 22, ElementType.BF16) with { NumKvHeads = 4, StoredLayers = 3 },
            new HfExportOptions(), SyntheticVariants.AsMobiLlamaWithPerLayerFfns),
    ];

    public static Fixture Get(string name) => All.Single(f => f.Name == name);

    /// <summary>The repository root: the first ancestor of the test's base directory holding MobileLlmConvert.sln.</summary>
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MobileLlmConvert.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no MobileLlmConvert.sln above {AppContext.BaseDirectory}");
    }
}
