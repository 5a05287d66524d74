using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Safetensors;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Tests.Safetensors;

/// <summary>
/// Deterministic mutation runs over each reader's pure entry point (the fuzz targets): whatever the
/// bytes, a reader either succeeds or throws its format's exception, never anything else.
/// </summary>
public sealed class SafetensorsMutationTests
{
    private const int Rounds = 3000;

    private static IEnumerable<byte[]> Mutants(byte[] seed, ulong rngSeed, int headerBytes)
    {
        var rng = new SplitMix64(rngSeed);
        for (int round = 0; round < Rounds; round++)
        {
            var bytes = (byte[])seed.Clone();
            int edits = 1 + (int)(rng.NextUInt64() % 4);
            for (int e = 0; e < edits; e++)
            {
                int at = (int)(rng.NextUInt64() % (ulong)Math.Min(headerBytes, bytes.Length));
                bytes[at] = (rng.NextUInt64() % 3) switch
                {
                    0 => (byte)rng.NextUInt64(),
                    1 => (byte)"{}[]\",:0123456789-e. "[(int)(rng.NextUInt64() % 21)],
                    _ => (byte)(bytes[at] ^ (1 << (int)(rng.NextUInt64() % 8))),
                };
            }
            if (rng.NextUInt64() % 8 == 0) Array.Resize(ref bytes, (int)(rng.NextUInt64() % (ulong)bytes.Length));
            yield return bytes;
        }
    }

    private static void OnlyFormatErrors<T>(IEnumerable<byte[]> inputs, Action<byte[]> read) where T : ModelFormatException
    {
        int rejected = 0;
        foreach (var input in inputs)
        {
            try { read(input); }
            catch (T) { rejected++; }
        }
        Assert.InRange(rejected, Rounds / 10, Rounds);
    }

    [Fact]
    public void SafetensorsHeaderMutants()
    {
        using var ir = SyntheticModel.Create(new SyntheticSpec { Family = ModelFamily.Llama, HiddenSize = 8, IntermediateSize = 16, VocabSize = 260, NumHeads = 2, NumKvHeads = 1, StoredLayers = 1 }, TensorNames.HuggingFace);
        using var stream = new MemoryStream();
        SafetensorsWriter.Write(stream, ir.Tensors);
        var seed = stream.ToArray();
        int header = 8 + (int)BitConverter.ToUInt64(seed, 0);
        OnlyFormatErrors<SafetensorsException>(Mutants(seed, 1, header), b => SafetensorsHeaderParser.Parse(b, "fuzz.safetensors"));
    }

    [Fact]
    public void SentencePieceMutants()
    {
        var seed = SentencePieceModelFile.Build(SyntheticVocab.Create(280));
        OnlyFormatErrors<SentencePieceException>(Mutants(seed, 2, seed.Length), b => SentencePieceModelFile.Read(b, "fuzz/tokenizer.model", null));
    }

    [Fact]
    public void ConfigMutants()
    {
        var seed = System.Text.Encoding.UTF8.GetBytes("""{"architectures": ["LlamaForCausalLM"], "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64, "num_hidden_layers": 2, "vocab_size": 320, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false}""");
        OnlyFormatErrors<HfConfigException>(Mutants(seed, 3, seed.Length), b => HfFamilies.Resolve(HfConfigJson.Parse(b, "fuzz/config.json"), "fuzz/config.json"));
    }

    [Fact]
    public void IndexMutants()
    {
        var seed = System.Text.Encoding.UTF8.GetBytes("""{"metadata": {"total_size": 120}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}}""");
        OnlyFormatErrors<HfIndexException>(Mutants(seed, 4, seed.Length), b => HfIndex.Parse(b, "fuzz/model.safetensors.index.json"));
    }
}
