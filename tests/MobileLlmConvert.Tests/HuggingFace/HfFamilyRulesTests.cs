using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.Oracles;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>
/// Issue 8's family rules, decided as each family's modelling code does (modeling_mobilellm.py,
/// MobiLlama's modelling code, transformers' LlamaForCausalLM) and checked by what a user sees:
/// logits, stored tensors, exit codes, and the import notes inspect and convert print.
/// </summary>
public sealed class HfFamilyRulesTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly int[] Tokens = [1, 17, 40, 263, 300, 5, 99];

    private static float[] Logits(ModelIr ir)
    {
        using var t = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = Tokens.Length });
        return t.Forward(Tokens);
    }

    private string TiedMobileLlm(string name) =>
        Checkpoint.Write(_dir.File(name), Checkpoint.Spec(ModelFamily.MobileLLM) with { Tied = true, DType = ElementType.BF16 });

    [Fact]
    public void ShareEmbeddingIgnoresAStoredHeadThatDiffers()
    {
        string tied = TiedMobileLlm("tied");
        string withHead = TiedMobileLlm("with-head");
        // A head of the embedding's type and shape whose bytes are all different (0x3F3F: bf16 0.746).
        Checkpoint.EditWeights(Path.Combine(withHead, "model.safetensors"), ts => ts.Add(Checkpoint.Filled("lm_head.weight", [320, 32], ElementType.BF16, 0x3F)));

        using var expected = HfImporter.Import(tied);
        using var ir = HfImporter.Import(withHead);
        Assert.True(ir.IsTied);
        Assert.False(ir.TryGetTensor("lm_head.weight", out _));
        Assert.Equal(
            ["share_embedding true: logits use model.embed_tokens.weight as MobileLLMForCausalLM does; the stored lm_head.weight (bf16 [320, 32]) is ignored " +
             "and dropped: it differs from the embedding (first differing byte at offset 0) and would change the logits"], ir.ImportNotes);
        Assert.Equal(Logits(expected), Logits(ir));
        // Whatever the sharing switches say, the head stays the embedding.
        var untouched = SharingPipeline.Run(ir, new SharingOptions { NoTie = true, NoDedup = true });
        Assert.Equal(Logits(expected), Logits(untouched.Ir));
    }

    [Fact]
    public void ShareEmbeddingDropsAnEqualStoredHeadAndSaysSo()
    {
        using var ir = HfImporter.Import(FixtureCatalog.Get("mobilellm-with-lm-head").CommittedPath);
        Assert.True(ir.IsTied);
        Assert.Single(ir.ImportNotes);
        Assert.EndsWith("the stored lm_head.weight (bf16 [320, 32]) is ignored and dropped: it is byte-identical to the embedding", ir.ImportNotes[0]);
    }

    [Fact]
    public void MobiLlamaWithDistinctPerLayerFfnsImportsUnshared()
    {
        var fixture = FixtureCatalog.Get("mobillama-unshared");
        using var ir = HfImporter.Import(fixture.CommittedPath);
        Assert.Equal(ModelFamily.MobiLlama, ir.Config.Family);
        Assert.Equal(
            ["per-layer FFNs, not shared: model.layers.1.mlp.gate_proj.weight differs from model.layers.0.mlp.gate_proj.weight " +
             "(first differing byte at offset 0), so each of the 3 blocks keeps its own FFN"], ir.ImportNotes);
        var shared = SharingPipeline.Run(ir).Ir;
        Assert.Equal(3, shared.Tensors.Count(t => t.Name.EndsWith("mlp.gate_proj.weight", StringComparison.Ordinal)));
        Assert.Equal(3, shared.Steps.Select(s => (s.Gate, s.Up, s.Down)).Distinct().Count());

        // The reference is the plain MHA Llama the fixture was made from, run by the naive forward.
        using var llama = SyntheticModel.Create(fixture.Spec, TensorNames.HuggingFace);
        var reference = NaiveTransformer.Logits(llama, Tokens);
        var ours = Logits(shared);
        int v = ir.Config.VocabSize;
        double max = 0;
        for (int p = 0; p < Tokens.Length; p++)
        {
            for (int i = 0; i < v; i++) max = Math.Max(max, Math.Abs(reference[p][i] - ours[p * v + i]));
        }
        // BF16 weights are exact in f32; the bound covers f32 accumulation order only.
        Assert.True(max < 1e-3, $"max |naive - ours| = {max}");
    }

    [Fact]
    public void MobiLlamaWithIdenticalCopiesIsSharedAndStoredOnce()
    {
        using var ir = HfImporter.Import(FixtureCatalog.Get("mobillama-ffn-copies").CommittedPath);
        Assert.Equal(["FFN shared by all 3 blocks: the 3 per-layer copies are byte-identical (DedupSharedTensors stores one)"], ir.ImportNotes);
        var shared = SharingPipeline.Run(ir).Ir;
        Assert.Single(shared.Tensors, t => t.Name.EndsWith("mlp.gate_proj.weight", StringComparison.Ordinal));
    }

    [Fact]
    public void MobiLlamaStoredOnceSaysSo()
    {
        using var ir = HfImporter.Import(FixtureCatalog.Get("mobillama-tiny").CommittedPath);
        Assert.Equal(["FFN shared by all 2 blocks: stored once under model.layers.0.mlp.*"], ir.ImportNotes);
    }

    [Fact]
    public void LayerSharedUseCacheFalseIsIgnoredAndCachedDecodingIsExact()
    {
        string dir = FixtureCatalog.Get("mobilellm-ls-tiny").CommittedPath;
        Assert.Contains("\"use_cache\": false", File.ReadAllText(Path.Combine(dir, "config.json")));
        using var ir = HfImporter.Import(dir);
        Assert.Equal(["use_cache false ignored: every executed step has its own KV-cache slot, so caching is exact"], ir.ImportNotes);
        // One token at a time through the KV cache against the naive forward, which recomputes every prefix's keys.
        var reference = NaiveTransformer.Logits(ir, Tokens);
        using var t = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = Tokens.Length });
        for (int p = 0; p < Tokens.Length; p++)
        {
            var step = t.Forward([Tokens[p]]);
            for (int i = 0; i < step.Length; i++) Assert.True(Math.Abs(reference[p][i] - step[i]) < 1e-3, $"position {p} id {i}");
        }
    }

    [Fact]
    public void MobileLlm15BDeclaredLlamaKeepsItsOwnHead()
    {
        // MobileLLM-1.5B on the Hub: LlamaForCausalLM, model_type llama, its own lm_head, no MobileLLM keys.
        string dir = Checkpoint.Write(_dir.File("1.5b"), Checkpoint.Spec(ModelFamily.Llama));
        using var ir = HfImporter.Import(dir);
        Assert.Equal(ModelFamily.Llama, ir.Config.Family);
        Assert.Equal("lm_head.weight", ir.Output);
        Assert.Empty(ir.ImportNotes);
        var shared = SharingPipeline.Run(ir).Ir;
        Assert.False(shared.IsTied);
        Assert.Equal(Logits(ir), Logits(shared));
    }

    /// <summary>What facebookresearch/MobileLLM's training code writes: a LlamaForCausalLM config with MobileLLM's keys.</summary>
    private string TrainingRepoOutput(bool layerSharing = true)
    {
        string dir = Checkpoint.Write(_dir.File("trained"), Checkpoint.Spec(ModelFamily.Llama) with { NumKvHeads = 4 });
        Checkpoint.EditConfig(dir, c =>
        {
            c["share_embedding"] = true;
            c["layer_sharing"] = layerSharing;
        });
        return dir;
    }

    [Fact]
    public void LlamaWithMobileLlmKeysExitsTwoWithAHint()
    {
        string dir = TrainingRepoOutput();
        foreach (var verb in new[] { "inspect", "convert", "hf2mobile", "logits", "generate", "verify" })
        {
            string[] args = verb switch
            {
                "convert" => ["convert", dir, "--to", "gguf", "-o", _dir.File("x.gguf")],
                "hf2mobile" => ["hf2mobile", dir, "-o", _dir.File("bundle")],
                "logits" => ["logits", dir, "--tokens", "1,2"],
                "generate" => ["generate", dir, "--prompt", "a"],
                "verify" => ["verify", dir, "--reference", dir, "--tokens", "1,2"],
                _ => ["inspect", dir],
            };
            var r = CliRunner.Run(args);
            Assert.True(r.ExitCode == 2, $"{verb}: {r}");
            Assert.Equal($"mlconvert: error: {Path.Combine(dir, "config.json")}: share_embedding = true: LlamaForCausalLM does not read MobileLLM's " +
                         $"share_embedding and layer_sharing; pass --family mobilellm (honour them), llama (ignore them) or mobillama{Environment.NewLine}", r.Stderr);
            Assert.False(File.Exists(_dir.File("x.gguf")) || Directory.Exists(_dir.File("bundle")), verb);
        }
    }

    private static JsonElement InspectJson(params string[] args)
    {
        var r = CliRunner.Run(["inspect", .. args, "--json", "--raw"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.Stdout).RootElement.Clone();
    }

    [Fact]
    public void FamilyMobileLlmHonoursShareEmbeddingAndLayerSharing()
    {
        string dir = TrainingRepoOutput();
        var j = InspectJson(dir, "--family", "mobilellm");
        Assert.Equal("MobileLLM", j.GetProperty("family").GetString());
        Assert.Equal(4, j.GetProperty("layers").GetProperty("executed").GetInt32());
        Assert.True(j.GetProperty("head_tied").GetBoolean());
        Assert.Equal(
            ["--family mobilellm: read with MobileLLMForCausalLM rules although config.json declares LlamaForCausalLM",
             "share_embedding true: logits use model.embed_tokens.weight as MobileLLMForCausalLM does; the stored lm_head.weight (f32 [320, 32]) is ignored " +
             "and dropped: it differs from the embedding (first differing byte at offset 0) and would change the logits"],
            j.GetProperty("notes").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void FamilyLlamaIgnoresMobileLlmKeys()
    {
        string dir = TrainingRepoOutput();
        var j = InspectJson(dir, "--family", "llama");
        Assert.Equal(2, j.GetProperty("layers").GetProperty("executed").GetInt32());
        Assert.False(j.GetProperty("head_tied").GetBoolean());
        Assert.Equal(
            ["--family llama: LlamaForCausalLM rules, as config.json declares", "share_embedding, layer_sharing ignored: LlamaForCausalLM does not read them"],
            j.GetProperty("notes").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void FamilyMobiLlamaReadsTheLlamaConfigAsMobiLlama()
    {
        string dir = TrainingRepoOutput(layerSharing: false);
        Checkpoint.EditConfig(dir, c => c["rope_theta"] = 500000.0);
        var j = InspectJson(dir, "--family", "MobiLlama");
        Assert.Equal("MobiLlama", j.GetProperty("family").GetString());
        Assert.Equal(10000, j.GetProperty("config").GetProperty("rope_theta").GetDouble());
        Assert.Equal(
            ["--family mobillama: read with MobiLlamaForCausalLM rules although config.json declares LlamaForCausalLM",
             "share_embedding, layer_sharing ignored: MobiLlamaForCausalLM does not read them",
             "rope_theta 500000 ignored: MobiLlamaForCausalLM hard-codes RoPE base 10000",
             "per-layer FFNs, not shared: model.layers.1.mlp.gate_proj.weight differs from model.layers.0.mlp.gate_proj.weight (first differing byte at offset 0), so each of the 2 blocks keeps its own FFN"],
            j.GetProperty("notes").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void AnEarlyMobiLlamaDeclaredLlamaReadsWithFamilyMobiLlama()
    {
        string dir = Checkpoint.Write(_dir.File("early"), Checkpoint.Spec(ModelFamily.MobiLlama));
        Checkpoint.EditConfig(dir, c =>
        {
            c["architectures"] = new JsonArray("LlamaForCausalLM");
            c["num_key_value_heads"] = 2;
        });
        Assert.Equal(2, CliRunner.Run("inspect", dir).ExitCode);
        var j = InspectJson(dir, "--family", "mobillama");
        Assert.Equal(4, j.GetProperty("config").GetProperty("num_key_value_heads").GetInt32());
        Assert.Contains("num_key_value_heads 2 ignored: MobiLlamaForCausalLM attention is full MHA (4 kv heads)",
            j.GetProperty("notes").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void FamilyIsAUsageErrorForAnUnknownNameOrAGgufFile()
    {
        string dir = TrainingRepoOutput();
        var r = CliRunner.Run("inspect", dir, "--family", "gpt2");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--family: 'gpt2' is not one of llama, mobilellm, mobillama", r.Stderr);

        string gguf = _dir.File("m.gguf");
        Assert.Equal(0, CliRunner.Run("convert", FixtureCatalog.Get("llama-tiny").CommittedPath, "--to", "gguf", "-o", gguf).ExitCode);
        var g = CliRunner.Run("inspect", gguf, "--family", "llama");
        Assert.Equal(2, g.ExitCode);
        Assert.Contains("is a gguf model, not a Hugging Face checkpoint", g.Stderr);
    }

    [Fact]
    public void ConvertReportsTheImportNotes()
    {
        string dir = TrainingRepoOutput();
        var r = CliRunner.Run("convert", dir, "--family", "mobilellm", "--to", "gguf", "-o", _dir.File("m.gguf"), "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        var notes = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("notes").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(2, notes.Count);
        Assert.StartsWith("--family mobilellm:", notes[0]);
        var text = CliRunner.Run("hf2mobile", dir, "--family", "mobilellm", "-o", _dir.File("bundle"));
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("  import: share_embedding true: logits use model.embed_tokens.weight", text.Stderr);
        var inspect = CliRunner.Run("inspect", dir, "--family", "mobilellm");
        Assert.Contains($"{Environment.NewLine}import: --family mobilellm: read with MobileLLMForCausalLM rules", inspect.Stdout);
    }

    /// <summary>
    /// The Hub's MobileLLM tokenizer_config.json, byte for byte (141 bytes): empty token strings, no
    /// add_bos_token, and model_max_length 1e30 as transformers saves it (Python's int(1e30), past any
    /// 64-bit integer).
    /// </summary>
    private const string HubMobileLlmTokenizerConfig =
        "{\"bos_token\": \"\", \"eos_token\": \"\", \"model_max_length\": 1000000000000000019884624838656, \"tokenizer_class\": \"LlamaTokenizer\", \"unk_token\": \"\"}";

    [Theory]
    [InlineData(HubMobileLlmTokenizerConfig)]
    [InlineData("{\"bos_token\": \"\", \"eos_token\": \"\", \"model_max_length\": 1e30, \"tokenizer_class\": \"LlamaTokenizer\", \"unk_token\": \"\"}")]
    public void TheHubsEmptyStringTokenizerConfigTakesIdsFromTheModelAndAddsBos(string json)
    {
        string dir = TiedMobileLlm("hub-tok");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), json, new UTF8Encoding(false));
        if (json == HubMobileLlmTokenizerConfig) Assert.Equal(141, new FileInfo(Path.Combine(dir, "tokenizer_config.json")).Length);
        using var ir = HfImporter.Import(dir);
        var tok = ir.Tokenizer!;
        Assert.Equal((0, 1, 2, true, false), (tok.UnkId, tok.BosId, tok.EosId, tok.AddBos, tok.AddEos));
        Assert.Equal(("<unk>", "<s>", "</s>"), (tok.Pieces[0], tok.Pieces[1], tok.Pieces[2]));
        Assert.Equal(json, tok.TokenizerConfigJson);
        var ids = new TextTokenizer(tok).Encode("the");
        Assert.Equal(1, ids[0]);
        Assert.True(ids.Count > 1);
        // The file travels unchanged into a bundle and the bundle reads back with the same ids.
        var r = CliRunner.Run("hf2mobile", dir, "-o", _dir.File("bundle"));
        Assert.True(r.ExitCode == 0, r.ToString());
        using var bundle = MobileLlmConvert.Cli.Infrastructure.ModelOpener.Open(_dir.File("bundle"));
        Assert.Equal(json, bundle.Tokenizer!.TokenizerConfigJson);
        Assert.Equal(ids, new TextTokenizer(bundle.Tokenizer).Encode("the"));
    }
}
