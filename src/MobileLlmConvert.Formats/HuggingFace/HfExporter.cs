using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Formats.Safetensors;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <param name="Shards">1 writes model.safetensors; N &gt; 1 writes N shards and model.safetensors.index.json.</param>
/// <param name="DType">Convert every tensor to this float type (F32, F16 or BF16); null keeps each tensor's type.</param>
public sealed record HfExportOptions(int Shards = 1, ElementType? DType = null);

/// <summary>
/// Writes an IR as a Hugging Face checkpoint directory in its family's exact layout. Each stored
/// tensor is written once under its key (keys are HF names): a tied head is not written, an LS
/// model writes its stored blocks with layer_sharing true, MobiLlama writes its FFN as stored.
/// The directory is built aside and moved into place (AtomicFile.WriteDirectory).
/// </summary>
public static class HfExporter
{
    /// <summary>Writes <paramref name="ir"/> as a Hugging Face checkpoint directory (config.json, safetensors, tokenizer files) at <paramref name="dir"/>.</summary>
    public static void Export(ModelIr ir, string dir, HfExportOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Shards, 1);
        if (options.Shards > ir.Tensors.Count)
            throw new ArgumentOutOfRangeException(nameof(options), options.Shards, $"cannot split {ir.Tensors.Count} tensors into {options.Shards} non-empty shards");
        if (options.DType is { } d && d.Info().IsQuantized)
            throw new ArgumentException($"safetensors export writes f32, f16 or bf16, not {d.Info().Name}");
        bool layerSharing = CheckLayout(ir);
        var tensors = ir.Tensors.Select(t => Convert(t, options.DType)).ToList();
        var dtype = options.DType ?? ir[ir.Embedding].Type;

        AtomicFile.WriteDirectory(dir, temp =>
        {
            File.WriteAllBytes(Path.Combine(temp, HfNames.ConfigFile), HfConfigWriter.Config(ir, layerSharing, dtype));
            if (ir.Tokenizer is { } tok)
            {
                if (tok.Kind == TokenizerKind.ByteLevelBpe)
                    File.WriteAllBytes(Path.Combine(temp, HfNames.TokenizerJsonFile), HfTokenizerJson.Build(tok));
                else
                    File.WriteAllBytes(Path.Combine(temp, HfNames.TokenizerModelFile), tok.SentencePieceModel ?? SentencePieceModelFile.Build(tok));
                var tokConfig = tok.TokenizerConfigJson is { } raw ? System.Text.Encoding.UTF8.GetBytes(raw) : HfConfigWriter.TokenizerConfig(tok, ir.Config.ContextLength);
                File.WriteAllBytes(Path.Combine(temp, HfNames.TokenizerConfigFile), tokConfig);
            }
            if (options.Shards == 1)
            {
                WriteSafetensors(Path.Combine(temp, HfNames.SingleWeightsFile), tensors);
                return;
            }
            var groups = Split(tensors, options.Shards);
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int s = 0; s < groups.Count; s++)
            {
                string name = HfNames.ShardFile(s, groups.Count);
                WriteSafetensors(Path.Combine(temp, name), groups[s]);
                foreach (var t in groups[s]) map.Add(t.Name, name);
            }
            var index = new HfIndex(map, tensors.Sum(t => t.ByteLength));
            File.WriteAllBytes(Path.Combine(temp, HfNames.IndexFile), index.ToJson());
        });
    }

    private static void WriteSafetensors(string path, IReadOnlyList<Tensor> tensors)
    {
        if (tensors.All(t => t.Source.CanCopyRanges))
        {
            // Synthetic weights and file slices read in ranges: every core makes a small chunk and
            // writes it at its place (directly to the device for a large file), so memory does not
            // grow with the largest tensor. The bytes are those SafetensorsWriter.Write gives.
            var header = new MemorySource(SafetensorsWriter.BuildHeader(tensors, SafetensorsWriter.PyTorchMetadata));
            long length = header.Length + tensors.Sum(t => t.ByteLength);
            // The blocks allocated up front (fallocate): one contiguous extent, and direct writes
            // that need not wait for each other (RangePipeline.WriteTo).
            using var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, preallocationSize: length);
            RangePipeline.WriteTo(file, [header, .. tensors.Select(t => t.Source)]);
            RandomAccess.FlushToDisk(file);
            return;
        }
        using var stream = new WriteBackFileStream(path);
        SafetensorsWriter.Write(stream, tensors, SafetensorsWriter.PyTorchMetadata);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Consecutive groups in IR order, each near total/N bytes and none empty: a tensor opens a new
    /// shard when the current one would pass its share, or when every remaining tensor is needed to
    /// fill the remaining shards.
    /// </summary>
    internal static List<List<Tensor>> Split(IReadOnlyList<Tensor> tensors, int shards)
    {
        long total = tensors.Sum(t => t.ByteLength);
        long share = (total + shards - 1) / shards;
        var groups = new List<List<Tensor>> { new() };
        long filled = 0;
        for (int j = 0; j < tensors.Count; j++)
        {
            var t = tensors[j];
            int shardsLeftAfter = shards - groups.Count;
            bool mustOpen = tensors.Count - j <= shardsLeftAfter;
            if (groups[^1].Count > 0 && shardsLeftAfter > 0 && (mustOpen || filled + t.ByteLength > share))
            {
                groups.Add([]);
                filled = 0;
            }
            groups[^1].Add(t);
            filled += t.ByteLength;
        }
        return groups;
    }

    private static Tensor Convert(Tensor t, ElementType? to)
    {
        if (to is not { } target || t.Type == target) return t;
        if (t.Type.Info().IsQuantized)
            throw new ArgumentException($"tensor {t.Name} is {t.Type.Info().Name}; dequantize before a safetensors export");
        long count = t.ElementCount;
        long bytes = checked(count * target.Info().BlockBytes);
        var source = t.Source;
        var from = t.Type;
        return new Tensor(t.Name, t.Shape, target, new ComputedSource(bytes, dest =>
        {
            var values = new float[count];
            FloatConvert.ToSingle(source.Read(), from, values);
            FloatConvert.FromSingle(values, target, dest);
        }));
    }

    /// <summary>
    /// Checks that the IR is expressible in its family's HF layout (the names the importer will look
    /// for) and returns whether it is MobileLLM-LS. Throws ArgumentException naming the first step
    /// or tensor that no HF checkpoint of the family could express.
    /// </summary>
    private static bool CheckLayout(ModelIr ir)
    {
        var c = ir.Config;
        var family = HfFamilies.For(c.Family);
        var hf = TensorNames.HuggingFace;
        string embedding = hf.Name(TensorRole.TokenEmbedding);
        if (ir.Embedding != embedding || ir.FinalNorm != hf.Name(TensorRole.OutputNorm) || (ir.Output != embedding && ir.Output != hf.Name(TensorRole.Output)))
            throw new ArgumentException($"IR keys embedding={ir.Embedding}, norm={ir.FinalNorm}, head={ir.Output} are not Hugging Face names");
        if (family.FullMha && c.NumKvHeads != c.NumHeads)
            throw new ArgumentException($"{family.Architecture} is full MHA: num_key_value_heads {c.NumKvHeads} != num_attention_heads {c.NumHeads}");
        if (family.FixedRopeTheta is { } theta && c.RopeTheta != theta)
            throw new ArgumentException($"{family.Architecture} hard-codes rope_theta {theta}; the IR has {c.RopeTheta}");
        if (c.Family == ModelFamily.MobiLlama && c.HeadDim * c.NumHeads != c.HiddenSize)
            throw new ArgumentException($"{family.Architecture} configs have no head_dim: head_dim {c.HeadDim} must be hidden/heads");

        bool ls = family.HasLayerSharing && ir.Steps.Count == 2 * c.StoredLayers && c.StoredLayers > 0;
        int repeat = ls ? 2 : 1;
        if (ir.Steps.Count != repeat * c.StoredLayers)
            throw new ArgumentException($"{ir.Steps.Count} executed steps for {c.StoredLayers} stored layers: not a {family.Architecture} layout");
        for (int s = 0; s < ir.Steps.Count; s++)
        {
            int i = s / repeat;
            var step = ir.Steps[s];
            // MobiLlama's FFN may be layer 0's, shared; every other key must be the block's own name.
            bool ok = TensorRoles.Of(step).All(p => p.Key == hf.Name(p.Role, i)
                || (family.SharedFfn && TensorRoles.Ffn.Contains(p.Role) && p.Key == hf.Name(p.Role, 0)));
            if (!ok)
                throw new ArgumentException($"step {s} ({step.Q}, {step.Gate}, ...) does not use layer {i}'s Hugging Face names; {family.Architecture} cannot express it");
        }
        var used = new HashSet<string>(ir.UsedKeys(), StringComparer.Ordinal);
        foreach (var t in ir.Tensors)
        {
            if (!used.Contains(t.Name)) throw new ArgumentException($"tensor {t.Name} is used by no step; the importer would reject it");
        }
        return ls;
    }
}
