using System.Text.Json.Nodes;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>One hand-built bad checkpoint per <see cref="HfConfigError"/> kind; each message names file, field and value.</summary>
public sealed class HfConfigHostileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Make(ModelFamily family = ModelFamily.Llama, bool tied = false) =>
        Checkpoint.Write(Path.Combine(_dir.Path, "ckpt"), Checkpoint.Spec(family) with { Tied = tied });

    private static HfConfigException AssertError(HfConfigError kind, string dir, string file, string field, string value)
    {
        var e = Assert.Throws<HfConfigException>(() => HfImporter.Import(dir).Dispose());
        Assert.Equal(kind, e.Kind);
        Assert.Contains(Path.Combine(dir, file), e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(value, e.Message);
        CliAssert.RejectsWith(dir, e.Message);
        return e;
    }

    private HfConfigException AssertConfigError(HfConfigError kind, Action<JsonObject> edit, string field, string value, ModelFamily family = ModelFamily.Llama)
    {
        string dir = Make(family);
        Checkpoint.EditConfig(dir, edit);
        return AssertError(kind, dir, "config.json", field, value);
    }

    [Fact]
    public void FileMissing()
    {
        var e = AssertError(HfConfigError.FileMissing, _dir.Path, "config.json", "(file)", _dir.Path);
        Assert.EndsWith("a Hugging Face checkpoint needs config.json", e.Message);
    }

    [Fact]
    public void FileTooLarge()
    {
        string dir = Make();
        File.WriteAllText(Path.Combine(dir, "config.json"), new string(' ', HfConfigJson.MaxConfigBytes + 1));
        AssertError(HfConfigError.FileTooLarge, dir, "config.json", "file length", (HfConfigJson.MaxConfigBytes + 1).ToString());
    }

    [Fact]
    public void InvalidJson()
    {
        string dir = Make();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"hidden_size\": 32,");
        AssertError(HfConfigError.InvalidJson, dir, "config.json", "(json)", "line 0");
    }

    [Fact]
    public void InvalidJsonDuplicateKey()
    {
        string dir = Make();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"hidden_size\": 32, \"hidden_size\": 64}");
        AssertError(HfConfigError.InvalidJson, dir, "config.json", "hidden_size", "(twice)");
    }

    [Fact]
    public void InvalidJsonBadUtf8()
    {
        string dir = Make();
        File.WriteAllBytes(Path.Combine(dir, "config.json"), [(byte)'{', (byte)'"', 0xC3, (byte)'"', (byte)':', (byte)'1', (byte)'}']);
        AssertError(HfConfigError.InvalidJson, dir, "config.json", "(json)", "invalid UTF-8");
    }

    [Fact]
    public void NotObject()
    {
        string dir = Make();
        File.WriteAllText(Path.Combine(dir, "config.json"), "[1]");
        AssertError(HfConfigError.NotObject, dir, "config.json", "(root)", "Array");
    }

    [Fact]
    public void UnknownArchitectureListsTheSupportedOnes()
    {
        var e = AssertConfigError(HfConfigError.UnknownArchitecture, c => c["architectures"] = new JsonArray("GPT2LMHeadModel"), "architectures", "GPT2LMHeadModel");
        Assert.EndsWith("unsupported architecture; supported: LlamaForCausalLM, MobileLLMForCausalLM, MobiLlamaForCausalLM", e.Message);
    }

    [Fact]
    public void ModelTypeMismatch() =>
        AssertConfigError(HfConfigError.ModelTypeMismatch, c => c["model_type"] = "llama", "model_type", "llama", ModelFamily.MobileLLM);

    [Fact]
    public void MissingField() => AssertConfigError(HfConfigError.MissingField, c => c.Remove("hidden_size"), "hidden_size", "(absent)");

    [Fact]
    public void MissingFieldArchitectures() => AssertConfigError(HfConfigError.MissingField, c => c.Remove("architectures"), "architectures", "(absent)");

    [Fact]
    public void MissingFieldRmsNormEpsForMobileLlm() =>
        AssertConfigError(HfConfigError.MissingField, c => c.Remove("rms_norm_eps"), "rms_norm_eps", "(absent)", ModelFamily.MobileLLM);

    [Fact]
    public void WrongType() => AssertConfigError(HfConfigError.WrongType, c => c["hidden_size"] = "32", "hidden_size", "\"32\"");

    [Fact]
    public void WrongTypeFractionalInteger() => AssertConfigError(HfConfigError.WrongType, c => c["num_hidden_layers"] = 2.5, "num_hidden_layers", "2.5");

    [Fact]
    public void WrongTypeFlag() => AssertConfigError(HfConfigError.WrongType, c => c["layer_sharing"] = 1, "layer_sharing", "1", ModelFamily.MobileLLM);

    [Fact]
    public void OutOfRangeLayers() => AssertConfigError(HfConfigError.OutOfRange, c => c["num_hidden_layers"] = 100_000, "num_hidden_layers", "100000");

    [Fact]
    public void OutOfRangeVocab() => AssertConfigError(HfConfigError.OutOfRange, c => c["vocab_size"] = 0, "vocab_size", "0");

    [Fact]
    public void OutOfRangeKvHeads() => AssertConfigError(HfConfigError.OutOfRange, c => c["num_key_value_heads"] = 3, "num_key_value_heads", "3");

    [Fact]
    public void OutOfRangeEps() => AssertConfigError(HfConfigError.OutOfRange, c => c["rms_norm_eps"] = -1.0, "rms_norm_eps", "-1");

    [Fact]
    public void OutOfRangeHugeInteger() => AssertConfigError(HfConfigError.OutOfRange, c => c["hidden_size"] = 1L << 40, "hidden_size", "1099511627776");

    [Fact]
    public void UnsupportedAttentionBias() => AssertConfigError(HfConfigError.Unsupported, c => c["attention_bias"] = true, "attention_bias", "true");

    [Fact]
    public void UnsupportedMlpBias() => AssertConfigError(HfConfigError.Unsupported, c => c["mlp_bias"] = true, "mlp_bias", "true");

    [Fact]
    public void UnsupportedRopeScaling() =>
        AssertConfigError(HfConfigError.Unsupported, c => c["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 2.0 }, "rope_scaling", "\"linear\"");

    [Fact]
    public void UnsupportedActivation() => AssertConfigError(HfConfigError.Unsupported, c => c["hidden_act"] = "gelu", "hidden_act", "gelu");

    [Fact]
    public void UnknownTensor()
    {
        string dir = Make();
        string weights = Path.Combine(dir, "model.safetensors");
        Checkpoint.EditWeights(weights, ts => ts.Add(Checkpoint.Filled("model.layers.0.self_attn.q_proj.bias", [32], ElementType.F32, 0)));
        var e = AssertError(HfConfigError.UnknownTensor, dir, "model.safetensors", "model.layers.0.self_attn.q_proj.bias", "(unused)");
        Assert.EndsWith("refusing to drop it silently", e.Message);
    }

    [Fact]
    public void MissingHead()
    {
        string dir = Make();
        Checkpoint.EditWeights(Path.Combine(dir, "model.safetensors"), ts => ts.RemoveAll(t => t.Name == "lm_head.weight"));
        var e = AssertError(HfConfigError.MissingHead, dir, "config.json", "lm_head.weight", "(absent)");
        Assert.EndsWith("no output head and no tie claimed (tie_word_embeddings absent or false)", e.Message);
    }

    [Fact]
    public void SharedFfnMismatch()
    {
        string dir = Make(ModelFamily.MobiLlama);
        Checkpoint.EditWeights(Path.Combine(dir, "model.safetensors"), ts => ts.Add(Checkpoint.Filled("model.layers.1.mlp.up_proj.weight", [64, 32], ElementType.F32, 7)));
        var e = AssertError(HfConfigError.SharedFfnMismatch, dir, "", "model.layers.1.mlp.gate_proj.weight", "(absent)");
        Assert.EndsWith("MobiLlama FFN weights are stored for 1 of 2 layers: neither one shared FFN nor one per layer", e.Message);
    }

    [Fact]
    public void AmbiguousFamilyLlamaWithMobileLlmKeys()
    {
        string dir = Make();
        Checkpoint.EditConfig(dir, c => c["share_embedding"] = true);
        var e = AssertError(HfConfigError.AmbiguousFamily, dir, "config.json", "share_embedding", "true");
        Assert.EndsWith("LlamaForCausalLM does not read MobileLLM's share_embedding; pass --family mobilellm (honour them), llama (ignore them) or mobillama", e.Message);
    }

    [Fact]
    public void AmbiguousFamilyLlamaWithMhaKeysButGqaConfig()
    {
        // Early MobiLlama-05B revisions: LlamaForCausalLM, num_key_value_heads 4, full-MHA k_proj.
        string dir = Make(ModelFamily.MobiLlama);
        Checkpoint.EditConfig(dir, c =>
        {
            c["architectures"] = new JsonArray("LlamaForCausalLM");
            c["num_key_value_heads"] = 2;
        });
        var e = AssertError(HfConfigError.AmbiguousFamily, dir, "config.json", "num_key_value_heads", "2");
        Assert.EndsWith("model.layers.0.self_attn.k_proj.weight is 32 rows, full MHA for 4 heads (an early MobiLlama revision?); pass --family mobillama to read it as MobiLlama", e.Message);
    }

    [Fact]
    public void NoWeights()
    {
        string dir = Make();
        File.Delete(Path.Combine(dir, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(dir, "pytorch_model.bin.json"), [0x50, 0x4B]);
        var e = AssertError(HfConfigError.NoWeights, dir, "config.json", "weights", dir);
        Assert.EndsWith("expected model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json", e.Message);
    }

    [Fact]
    public void ConfigThatLiesAboutAShapeIsCaughtByTheValidator()
    {
        string dir = Make();
        Checkpoint.EditConfig(dir, c => c["intermediate_size"] = 96);
        var e = Assert.Throws<IrException>(() => HfImporter.Import(dir).Dispose());
        Assert.Equal(IrError.ShapeMismatch, e.Kind);
        Assert.Equal($"{Path.Combine(dir, "config.json")}: model.layers.0.mlp.gate_proj.weight = [64, 32]: config implies [96, 32]", e.Message);
    }

    [Fact]
    public void VocabSizeThatDisagreesWithTheEmbeddingIsCaught()
    {
        string dir = Make();
        Checkpoint.EditConfig(dir, c => c["vocab_size"] = 300);
        var e = Assert.Throws<IrException>(() => HfImporter.Import(dir).Dispose());
        Assert.Equal(IrError.ShapeMismatch, e.Kind);
        Assert.Contains("model.embed_tokens.weight = [320, 32]: config implies [300, 32]", e.Message);
    }

    [Fact]
    public void EveryErrorKindHasAHostileCheckpointHere()
    {
        var tested = typeof(HfConfigHostileTests).GetMethods().Select(m => m.Name).ToList();
        foreach (var kind in Enum.GetNames<HfConfigError>())
        {
            Assert.True(tested.Any(n => n.StartsWith(kind, StringComparison.Ordinal)), $"no test for {kind}");
        }
    }
}
