using System.Text.RegularExpressions;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Roles;

/// <summary>The one role table in Core: names, step accessors, shapes, and what the validator reports from it.</summary>
public class TensorRolesTests
{
    private static readonly SyntheticSpec Spec = new()
    {
        Family = ModelFamily.Llama, VocabSize = 300, HiddenSize = 32, IntermediateSize = 48, NumHeads = 4, NumKvHeads = 2,
        HeadDim = 12, StoredLayers = 2, Seed = 7,
    };

    [Fact]
    public void NamesAreTheOnesReportsAndJsonPrint()
    {
        Assert.Equal(["embedding", "attn_norm", "q", "k", "v", "o", "ffn_norm", "gate", "up", "down", "final_norm", "output"],
            TensorRoles.All.Select(r => r.Name));
        Assert.Equal(Enum.GetValues<TensorRole>(), TensorRoles.All.Select(r => r.Role));
        Assert.Equal([TensorRole.TokenEmbedding, TensorRole.OutputNorm, TensorRole.Output], TensorRoles.Model);
    }

    [Fact]
    public void StepRolesFollowLayerStepKeysAndTheIndexerReadsAndWritesEachField()
    {
        var step = new LayerStep("an", "q", "k", "v", "o", "fn", "g", "u", "d");
        Assert.Equal(step.Keys, TensorRoles.Step.Select(r => step[r]));
        Assert.Equal(step.Keys, TensorRoles.Of(step).Select(p => p.Key));
        foreach (var role in TensorRoles.Step)
        {
            var changed = step.With(role, "new");
            Assert.Equal("new", changed[role]);
            Assert.Equal(8, changed.Keys.Zip(step.Keys).Count(p => p.First == p.Second));
        }
        Assert.Equal(step, LayerStep.FromRoles(r => step[r]));
        Assert.Throws<InvalidOperationException>(() => step[TensorRole.Output]);
    }

    [Fact]
    public void ExpectedShapesComeFromTheConfig()
    {
        using var ir = SyntheticModel.Create(Spec, TensorNames.HuggingFace);
        var c = ir.Config;
        Assert.Equal([300L, 32], TensorRole.TokenEmbedding.ExpectedShape(c));
        Assert.Equal([48L, 32], TensorRole.Q.ExpectedShape(c)); // 4 heads x 12, not hidden
        Assert.Equal([24L, 32], TensorRole.K.ExpectedShape(c));
        Assert.Equal([32L, 48], TensorRole.O.ExpectedShape(c));
        Assert.Equal([32L, 48], TensorRole.Down.ExpectedShape(c));
        Assert.Equal([32L], TensorRole.OutputNorm.ExpectedShape(c));
        // Every tensor of a synthetic model has the shape the table gives its role.
        foreach (var (role, _, key) in TensorRoles.Uses(ir)) Assert.Equal(role.ExpectedShape(c), ir[key].Shape);
    }

    [Fact]
    public void WidthsDoNotWrapForHostileHeadCounts()
    {
        using var ir = SyntheticModel.Create(Spec, TensorNames.HuggingFace);
        var hostile = ir.Config with { NumHeads = 4096, NumKvHeads = 4096, HeadDim = 1 << 20 };
        Assert.Equal([1L << 32, 32], TensorRole.Q.ExpectedShape(hostile));
        Assert.Equal([32L, 1L << 32], TensorRole.O.ExpectedShape(hostile));
        Assert.Equal([1L << 32, 32], TensorRole.V.ExpectedShape(hostile));
    }

    [Fact]
    public void UsesListEveryKeyInExecutionOrder()
    {
        using var ir = SyntheticModel.Create(Spec with { LayerSharing = true }, TensorNames.HuggingFace);
        var uses = TensorRoles.Uses(ir).ToList();
        Assert.Equal(ir.UsedKeys(), uses.Select(u => u.Key));
        Assert.Equal(1 + 4 * 9 + 2, uses.Count);
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], uses.Where(u => u.Role is TensorRole.Q or TensorRole.Gate).Select(u => u.Step!.Value));
        Assert.All(uses.Where(u => u.Step is null), u => Assert.False(u.Role.Info().PerStep));
    }

    [Theory]
    [InlineData(TensorRole.K, "[24, 32]")]
    [InlineData(TensorRole.Down, "[32, 48]")]
    [InlineData(TensorRole.FfnNorm, "[32]")]
    public void ValidatorReportsTheShapeTheTableExpects(TensorRole role, string implied)
    {
        using var ir = SyntheticModel.Create(Spec, TensorNames.HuggingFace);
        string key = ir.Steps[1][role];
        var wrong = ir.Tensors.Select(t => t.Name == key ? new Tensor(t.Name, [5, 5], ElementType.F32, new MemorySource(new byte[100])) : t).ToList();
        var e = Assert.Throws<IrException>(() => IrValidator.Validate(ir with { Tensors = wrong }, "cfg.json"));
        Assert.Equal(IrError.ShapeMismatch, e.Kind);
        Assert.Equal(key, e.Field);
        Assert.Equal("[5, 5]", e.Value);
        Assert.Equal($"config implies {implied}", e.Reason);
        Assert.Equal(implied, Shapes.Format(role.ExpectedShape(ir.Config)));
    }

    /// <summary>
    /// Core holds no file format's tensor names: names live in Formats' TensorNames. A string literal
    /// in Core's sources containing one of these is a name that escaped the table.
    /// </summary>
    [Fact]
    public void CoreSourcesHaveNoFormatTensorNameLiterals()
    {
        string core = Path.Combine(FixtureCatalog.RepoRoot, "src", "MobileLlmConvert.Core");
        string[] banned = ["model.layers", "model.embed_tokens", "model.norm", "blk.", "lm_head", "token_embd", "output_norm", "_proj.weight"];
        // The one user-facing example of an override pattern in QuantPolicy's error text (quant's file,
        // asserted verbatim by QuantPolicyTests); it names no tensor the code looks up.
        string[] allowed = ["$\"override \\\"{text}\\\": expected pattern=type, e.g. model.layers.*.mlp.down_proj.weight=q8\""];
        var literal = new Regex("\\$?@?\"(?:[^\"\\\\\\n]|\\\\.)*\"");
        var found = new List<string>();
        var files = Directory.EnumerateFiles(core, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.True(files.Count > 20, $"found only {files.Count} Core sources under {core}");
        foreach (var file in files)
        {
            foreach (var (line, n) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
            {
                string code = line.TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal)) continue;
                foreach (Match m in literal.Matches(code))
                {
                    if (banned.Any(b => m.Value.Contains(b, StringComparison.Ordinal)) && !allowed.Contains(m.Value))
                        found.Add($"{Path.GetRelativePath(core, file)}:{n}: {m.Value}");
                }
            }
        }
        Assert.Empty(found);
    }
}
