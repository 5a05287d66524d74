using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;

namespace MobileLlmConvert.Tests.Gguf;

/// <summary>
/// Well-formed GGUF files that are wrong as a model: one per model-level error kind, made by
/// rewriting a valid file written from a tiny synthetic model, each with its exact message.
/// </summary>
public class GgufHostileModelTests
{
    private static void Fails(string family, GgufError kind, string expectedAfterPath,
        Action<List<KeyValuePair<string, GgufValue>>>? keys = null, Action<List<GgufRewrite.Entry>>? tensors = null)
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create(family);
        GgufWriter.Write(ir, dir.File("good.gguf"), new GgufWriteOptions { FloatType = ElementType.F32 });
        var path = GgufRewrite.Rewrite(dir.File("good.gguf"), dir.File("bad.gguf"), keys, tensors);
        using var bag = new ResourceBag();
        var e = Assert.Throws<GgufException>(() => GgufFile.Read(path, bag));
        Assert.Equal(kind, e.Kind);
        Assert.Equal($"{path}: {expectedAfterPath}", e.Message);
        CliAssert.RejectsWith(path, e.Message);
    }

    [Fact]
    public void MissingKey() => Fails("llama-tied", GgufError.MissingKey, "llama.context_length = (absent): required key is missing",
        keys: k => k.Remove(GgufKeys.ContextLength));

    [Fact]
    public void WrongKeyType() => Fails("llama-tied", GgufError.WrongKeyType, "llama.block_count = 2 (String): must be an integer",
        keys: k => k.Set(GgufKeys.BlockCount, GgufValue.String("2")));

    [Fact]
    public void KvHeadsThatDoNotDivideHeads() => Fails("llama-gqa-untied", GgufError.BadKeyValue, "llama.attention.head_count_kv = 3: must divide llama.attention.head_count (4)",
        keys: k => k.Set(GgufKeys.HeadCountKv, GgufValue.UInt32(3)));

    [Fact]
    public void BlockCountOutOfRange() => Fails("llama-tied", GgufError.BadKeyValue, "llama.block_count = 0: must be in 1..4096",
        keys: k => k.Set(GgufKeys.BlockCount, GgufValue.UInt32(0)));

    [Fact]
    public void UnsupportedArchitecture() => Fails("llama-tied", GgufError.UnsupportedArchitecture, "general.architecture = gpt2: only \"llama\" is supported",
        keys: k => k.Set(GgufKeys.Architecture, GgufValue.String("gpt2")));

    [Fact]
    public void MissingTensor() => Fails("llama-tied", GgufError.MissingTensor, "blk.1.ffn_up.weight = (absent): required by the llama architecture and the metadata keys",
        tensors: t => t.RemoveAll(x => x.Name == "blk.1.ffn_up.weight"));

    [Fact]
    public void UnexpectedTensorName() => Fails("llama-tied", GgufError.UnexpectedTensor, "blk.1.ffn_upx.weight = [128, 64]: not a tensor of the llama architecture",
        tensors: t => t[t.FindIndex(x => x.Name == "blk.1.ffn_up.weight")] = t.Single(x => x.Name == "blk.1.ffn_up.weight") with { Name = "blk.1.ffn_upx.weight" });

    [Fact]
    public void BlockPastBlockCount() => Fails("llama-tied", GgufError.UnexpectedTensor, "blk.1.attn_norm.weight = 1: block index past llama.block_count (1)",
        keys: k => k.Set(GgufKeys.BlockCount, GgufValue.UInt32(1)));

    [Fact]
    public void ShapeMismatch() => Fails("llama-tied", GgufError.ShapeMismatch, "blk.0.ffn_gate.weight = [128, 64]: the metadata keys imply [96, 64]",
        keys: k => k.Set(GgufKeys.FeedForwardLength, GgufValue.UInt32(96)));

    [Fact]
    public void UnsupportedTensorType() => Fails("llama-tied", GgufError.UnsupportedTensorType, "blk.0.attn_v.weight.type = IQ4_NL: supported types are F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K, BF16",
        tensors: t =>
        {
            int i = t.FindIndex(x => x.Name == "blk.0.attn_v.weight");
            t[i] = t[i] with { Type = 20, Data = new byte[16 * 2 * 18] }; // [16 rows, 64 cols] as IQ4_NL: 2 blocks of 18 bytes a row
        });

    [Fact]
    public void TokenizerArraysOfDifferentLengths() => Fails("llama-tied", GgufError.BadTokenizer, "tokenizer.ggml.scores = 10 scores: tokenizer.ggml.tokens has 320",
        keys: k => k.Set(GgufKeys.Scores, GgufValue.Array(GgufValueType.Float32, new float[10])));

    [Fact]
    public void SpecialIdOutsideTheVocabulary() => Fails("llama-tied", GgufError.BadTokenizer, "tokenizer.ggml.bos_token_id = 320: outside the vocabulary of 320 tokens",
        keys: k => k.Set(GgufKeys.BosId, GgufValue.UInt32(320)));

    [Fact]
    public void SharingRecordOfTheWrongLength() => Fails("llama-tied", GgufError.BadSharingRecord,
        "mobilellmconvert.tensor_map.ir_keys = 1 keys: mobilellmconvert.tensor_map.gguf_names has 20 names",
        keys: k => k.Set(GgufKeys.OurTensorKeys, GgufValue.Array(GgufValueType.String, new[] { "x" })));

    [Fact]
    public void SharingRecordWithAnUnknownFamily() => Fails("llama-tied", GgufError.BadSharingRecord,
        "mobilellmconvert.family = Gpt: families are Llama, MobileLLM, MobiLlama",
        keys: k => k.Set(GgufKeys.OurFamily, GgufValue.String("Gpt")));

    [Fact]
    public void SharingRecordWithAMissingKey() => Fails("llama-tied", GgufError.BadSharingRecord,
        "mobilellmconvert.stored_layers = (absent): required key is missing",
        keys: k => k.Remove(GgufKeys.OurStoredLayers));

    [Fact]
    public void SharedTensorsWhoseBytesDiffer() => Fails("mobilellm-ls", GgufError.SharedTensorMismatch,
        "blk.1.attn_v.weight = model.layers.0.self_attn.v_proj.weight: recorded as shared with blk.0.attn_v.weight but the bytes differ",
        tensors: t =>
        {
            int i = t.FindIndex(x => x.Name == "blk.1.attn_v.weight");
            var data = (byte[])t[i].Data.Clone();
            data[100] ^= 1;
            t[i] = t[i] with { Data = data };
        });

    [Fact]
    public void SharedRecordAcrossRoles() => Fails("mobilellm-ls", GgufError.BadSharingRecord,
        "blk.0.attn_k.weight = model.layers.0.self_attn.q_proj.weight: recorded as the same IR tensor as blk.0.attn_q.weight but differs in RoPE permutation, type or shape",
        keys: k =>
        {
            var names = (string[])((GgufArray)k.Single(x => x.Key == GgufKeys.OurTensorNames).Value.Value).Items;
            var irKeys = (string[])((GgufArray)k.Single(x => x.Key == GgufKeys.OurTensorKeys).Value.Value).Items.Clone();
            irKeys[Array.IndexOf(names, "blk.0.attn_k.weight")] = "model.layers.0.self_attn.q_proj.weight";
            k.Set(GgufKeys.OurTensorKeys, GgufValue.Array(GgufValueType.String, irKeys));
        });

    /// <summary>Random byte flips in the header: every outcome is a clean read or a GgufException, never a crash.</summary>
    [Fact]
    public void MutatedHeadersFailCleanly()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("mobilellm-ls");
        GgufWriter.Write(ir, dir.File("good.gguf"), new GgufWriteOptions { FloatType = ElementType.F32 });
        var good = File.ReadAllBytes(dir.File("good.gguf"));
        long header = GgufFile.ReadMetadata(dir.File("good.gguf")).DataOffset;
        var rng = new Core.Synthetic.SplitMix64(42);
        int failures = 0;
        for (int i = 0; i < 300; i++)
        {
            var bytes = (byte[])good.Clone();
            for (int f = 0; f < 4; f++)
            {
                // Bias flips towards the structural start of the header, where counts and lengths live.
                long at = (long)(rng.NextUInt64() % (ulong)(f == 0 ? Math.Min(header, 4096) : header));
                bytes[at] = (byte)rng.NextUInt64();
            }
            var path = dir.File($"m{i}.gguf");
            File.WriteAllBytes(path, bytes);
            using var bag = new ResourceBag();
            try
            {
                GgufFile.Read(path, bag);
            }
            catch (GgufException)
            {
                failures++;
            }
            File.Delete(path);
        }
        Assert.InRange(failures, 1, 300);
    }
}
