using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>What each family's config means (the Hub config.json of each family), checked on the IR the importer builds.</summary>
public sealed class HfFamilyTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Make(ModelFamily family, bool tied = false, bool ls = false, int kv = 2) =>
        Checkpoint.Write(Path.Combine(_dir.Path, "ckpt"), Checkpoint.Spec(family) with { Tied = tied, LayerSharing = ls, NumKvHeads = kv });

    [Fact]
    public void MobileLlmLayerSharingRepeatsEachBlockImmediately()
    {
        string dir = Make(ModelFamily.MobileLLM, tied: true, ls: true);
        using var ir = HfImporter.Import(dir);
        Assert.Equal((2, 4), (ir.Config.StoredLayers, ir.Config.ExecutedLayers));
        Assert.Equal(["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.weight",
            "model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight"], ir.Steps.Select(s => s.Q));
        Assert.Equal(2 * ir.Steps[0].Keys.Count(), ir.Steps.Select(s => s).Distinct().SelectMany(s => s.Keys).Count());
    }

    [Fact]
    public void MobileLlmShareEmbeddingTiesWhileTieWordEmbeddingsIsFalse()
    {
        string dir = Make(ModelFamily.MobileLLM, tied: true);
        Assert.Contains("\"tie_word_embeddings\": false", File.ReadAllText(Path.Combine(dir, "config.json")));
        using var ir = HfImporter.Import(dir);
        Assert.True(ir.IsTied);
        Assert.Equal("share_embedding", ir.Config.TieClaimFlag);
        Assert.False(ir.TryGetTensor("lm_head.weight", out _));
    }

    [Fact]
    public void AClaimedTieWithoutShareEmbeddingKeepsTheHeadForAPassToDecide()
    {
        string dir = Make(ModelFamily.MobileLLM);
        Checkpoint.EditConfig(dir, c => c["tie_word_embeddings"] = true);
        using var ir = HfImporter.Import(dir);
        Assert.Equal("tie_word_embeddings", ir.Config.TieClaimFlag);
        Assert.Equal("lm_head.weight", ir.Output);
        Assert.False(ir.IsTied);
    }

    [Fact]
    public void LayerSharingIsMobileLlmOnly()
    {
        string dir = Make(ModelFamily.Llama);
        Checkpoint.EditConfig(dir, c => c["layer_sharing"] = true);
        using var ir = HfImporter.Import(dir, options: new HfImportOptions { Family = ModelFamily.Llama });
        Assert.Equal(2, ir.Steps.Count);
        Assert.Contains("layer_sharing ignored: LlamaForCausalLM does not read it", ir.ImportNotes);
    }

    [Fact]
    public void MobiLlamaIgnoresKvHeadsAndRopeThetaAndSkipsInvFreq()
    {
        string dir = Make(ModelFamily.MobiLlama, kv: 4);
        Checkpoint.EditConfig(dir, c =>
        {
            c["num_key_value_heads"] = 2;
            c["rope_theta"] = 500000.0;
        });
        Checkpoint.EditWeights(Path.Combine(dir, "model.safetensors"), ts =>
        {
            ts.Add(Checkpoint.Filled("model.layers.0.self_attn.rotary_emb.inv_freq", [4], ElementType.F32, 1));
            ts.Add(Checkpoint.Filled("model.layers.1.self_attn.rotary_emb.inv_freq", [4], ElementType.F32, 1));
        });
        using var ir = HfImporter.Import(dir);
        Assert.Equal((4, 4), (ir.Config.NumHeads, ir.Config.NumKvHeads));
        Assert.Equal(10000f, ir.Config.RopeTheta);
        Assert.DoesNotContain(ir.Tensors, t => t.Name.EndsWith("inv_freq", StringComparison.Ordinal));
    }

    [Fact]
    public void MobiLlamaSharedFfnStoredOnceIsNamedByEveryStep()
    {
        using var ir = HfImporter.Import(Make(ModelFamily.MobiLlama, kv: 4));
        Assert.All(ir.Steps, s => Assert.Equal(("model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight"), (s.Gate, s.Up, s.Down)));
        Assert.Equal("model.layers.1.self_attn.q_proj.weight", ir.Steps[1].Q);
    }

    [Fact]
    public void MobiLlamaIdenticalPerLayerCopiesAreKeptAsStored()
    {
        string dir = Make(ModelFamily.MobiLlama, kv: 4);
        Checkpoint.EditWeights(Path.Combine(dir, "model.safetensors"), ts =>
        {
            foreach (var part in new[] { "gate", "up", "down" })
            {
                var layer0 = ts.Single(t => t.Name == $"model.layers.0.mlp.{part}_proj.weight");
                ts.Add(layer0.WithName($"model.layers.1.mlp.{part}_proj.weight"));
            }
        });
        using var ir = HfImporter.Import(dir);
        Assert.Equal("model.layers.1.mlp.gate_proj.weight", ir.Steps[1].Gate);
        Assert.True(ir["model.layers.0.mlp.up_proj.weight"].Source.Read().SequenceEqual(ir["model.layers.1.mlp.up_proj.weight"].Source.Read()));
    }

    [Fact]
    public void LlamaWithoutKvHeadsOrHeadDimIsMhaWithHiddenOverHeads()
    {
        string dir = Make(ModelFamily.Llama, kv: 4);
        Checkpoint.EditConfig(dir, c =>
        {
            c.Remove("num_key_value_heads");
            c.Remove("head_dim");
            c.Remove("rms_norm_eps");
            c.Remove("rope_theta");
        });
        using var ir = HfImporter.Import(dir);
        Assert.Equal((4, 4, 8), (ir.Config.NumHeads, ir.Config.NumKvHeads, ir.Config.HeadDim));
        Assert.Equal(1e-6f, ir.Config.RmsNormEps);
        Assert.Equal(10000f, ir.Config.RopeTheta);
    }

    [Fact]
    public void LlamaTieWordEmbeddingsDecidesTying()
    {
        using var ir = HfImporter.Import(Make(ModelFamily.Llama, tied: true));
        Assert.True(ir.IsTied);
        Assert.Equal("tie_word_embeddings", ir.Config.TieClaimFlag);
    }

    [Fact]
    public void EosTokenListTakesTheFirstId()
    {
        string dir = Make(ModelFamily.Llama);
        Checkpoint.EditConfig(dir, c => c["eos_token_id"] = new System.Text.Json.Nodes.JsonArray(2, 5));
        using var ir = HfImporter.Import(dir);
        Assert.Equal(2, ir.Config.EosTokenId);
    }

    [Fact]
    public void MissingTokenizerIsAllowed()
    {
        string dir = Make(ModelFamily.Llama);
        File.Delete(Path.Combine(dir, "tokenizer.model"));
        using var ir = HfImporter.Import(dir);
        Assert.Null(ir.Tokenizer);
    }

    [Fact]
    public void TokenizerConfigIsCarriedIntoTheIr()
    {
        string dir = Make(ModelFamily.Llama);
        const string json = """{"add_bos_token": false, "add_eos_token": true, "chat_template": "x"}""";
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), json);
        using var ir = HfImporter.Import(dir);
        Assert.Equal((false, true, json), (ir.Tokenizer!.AddBos, ir.Tokenizer.AddEos, ir.Tokenizer.TokenizerConfigJson));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "tokenizer.model")), ir.Tokenizer.SentencePieceModel);
    }

    /// <summary>Rewrites one tensor's dtype string in the header in place (same length, same byte size).</summary>
    private static void PatchDType(string path, string name, string from, string to)
    {
        var bytes = File.ReadAllBytes(path);
        var text = System.Text.Encoding.Latin1.GetString(bytes);
        string old = $"\"{name}\":{{\"dtype\":\"{from}\"";
        int at = text.IndexOf(old, StringComparison.Ordinal);
        Assert.True(at > 0, old);
        System.Text.Encoding.Latin1.GetBytes(old.Replace(from, to, StringComparison.Ordinal)).CopyTo(bytes, at);
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public void ANeededTensorOfAnUnsupportedDTypeIsNamedWithItsDType()
    {
        string dir = Make(ModelFamily.Llama);
        string weights = Path.Combine(dir, "model.safetensors");
        PatchDType(weights, "model.norm.weight", "F32", "I32");
        var e = Assert.Throws<MobileLlmConvert.Formats.Safetensors.SafetensorsException>(() => HfImporter.Import(dir).Dispose());
        Assert.Equal(MobileLlmConvert.Formats.Safetensors.SafetensorsError.UnsupportedDType, e.Kind);
        Assert.Equal($"{weights}: model.norm.weight.dtype = I32: only F32, F16 and BF16 tensors can be converted", e.Message);
    }

    [Fact]
    public void ASkippedBufferMayHaveAnyDType()
    {
        string dir = Make(ModelFamily.MobiLlama, kv: 4);
        string weights = Path.Combine(dir, "model.safetensors");
        Checkpoint.EditWeights(weights, ts => ts.Add(Checkpoint.Filled("model.layers.0.self_attn.rotary_emb.inv_freq", [4], ElementType.F32, 1)));
        PatchDType(weights, "model.layers.0.self_attn.rotary_emb.inv_freq", "F32", "I32");
        using var ir = HfImporter.Import(dir);
        Assert.Equal(2, ir.Steps.Count);
    }

    [Fact]
    public void TensorsAreMappedNotCopied()
    {
        using var ir = HfImporter.Import(Make(ModelFamily.Llama));
        Assert.All(ir.Tensors, t => Assert.IsType<MobileLlmConvert.Core.Ir.MappedSource>(t.Source));
    }

    [Fact]
    public void ExportedFamilyConfigsLookLikeTheReleasedOnes()
    {
        string dir = Make(ModelFamily.MobiLlama, kv: 4);
        var text = File.ReadAllText(Path.Combine(dir, "config.json"));
        Assert.Contains("\"architectures\": [\n    \"MobiLlamaForCausalLM\"\n  ]", text.ReplaceLineEndings("\n"));
        Assert.Contains("\"model_type\": \"llama\"", text);
        Assert.Contains($"\"num_key_value_heads\": {HfConfigWriter.MobiLlamaReleasedKvHeads}", text);
        Assert.Contains("\"rope_theta\": 10000.0", text);
        Assert.Contains("\"rms_norm_eps\": 1e-05", text);
        Assert.DoesNotContain("head_dim", text);
    }
}
