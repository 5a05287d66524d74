using System.Globalization;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// Reads a Hugging Face checkpoint directory (config.json, model.safetensors or shards + index,
/// optional tokenizer.model and tokenizer_config.json) into the IR. Tensors stay mapped and lazy.
/// Sharing is expressed the IR way: MobileLLM-LS steps name each stored block twice, MobiLlama's
/// steps all name the shared FFN, a claimed tie without lm_head names the embedding as the head.
/// </summary>
/// <remarks>Specs: REFERENCE.md ("The models", "safetensors"), formats/safetensors.md, formats/sentencepiece/README.md.</remarks>
public static class HfImporter
{
    public static ModelIr Import(string dir, ResourceBag? resources = null)
    {
        string configPath = Path.Combine(dir, HfNames.ConfigFile);
        if (!File.Exists(configPath))
            throw new HfConfigException(HfConfigError.FileMissing, configPath, "(file)", dir,
                Directory.Exists(dir) ? "a Hugging Face checkpoint needs config.json" : "directory does not exist");
        var configBytes = HfWeights.ReadCapped(configPath, HfConfigJson.MaxConfigBytes, n => new HfConfigException(HfConfigError.FileTooLarge,
            configPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfConfigJson.MaxConfigBytes} bytes"));
        var resolved = HfFamilies.Resolve(HfConfigJson.Parse(configBytes, configPath), configPath);
        var tokenizer = ReadTokenizer(dir);

        bool ownsBag = resources is null;
        var bag = resources ?? new ResourceBag();
        try
        {
            var weights = HfWeights.Open(dir, bag);
            var ir = Build(resolved, weights, tokenizer, configPath, dir, bag);
            IrValidator.Validate(ir, configPath);
            return ir;
        }
        catch
        {
            if (ownsBag) bag.Dispose();
            throw;
        }
    }

    private static ModelIr Build(HfResolvedConfig resolved, HfWeights weights, TokenizerIr? tokenizer, string configPath, string dir, ResourceBag bag)
    {
        var c = resolved.Config;
        var steps = new List<LayerStep>();
        for (int i = 0; i < c.StoredLayers; i++)
        {
            var step = new LayerStep(HfNames.AttnNorm(i), HfNames.Q(i), HfNames.K(i), HfNames.V(i), HfNames.O(i), HfNames.FfnNorm(i),
                Ffn(resolved, weights, HfNames.Gate, i), Ffn(resolved, weights, HfNames.Up, i), Ffn(resolved, weights, HfNames.Down, i));
            steps.Add(step);
            // MobileLLM-LS: the repeat is hard-coded x2, immediately block-wise (0,0,1,1,...), REFERENCE.md.
            if (resolved.LayerSharing) steps.Add(step);
        }
        if (resolved.Family.SharedFfn) CheckSharedFfnCopies(weights, c.StoredLayers);

        string output;
        if (weights.Contains(HfNames.Head)) output = HfNames.Head; // kept as stored: a pass compares bytes before tying
        else if (c.TieClaimFlag is not null) output = HfNames.Embedding;
        else
        {
            string flags = string.Join(", ", resolved.Family.TieFlags.Select(f => $"{f} absent or false"));
            throw new HfConfigException(HfConfigError.MissingHead, configPath, HfNames.Head, "(absent)", $"no output head and no tie claimed ({flags})");
        }

        var ir = new ModelIr
        {
            Config = c,
            Tensors = CollectTensors(weights, steps, output),
            Embedding = HfNames.Embedding,
            FinalNorm = HfNames.FinalNorm,
            Output = output,
            Steps = steps,
            Tokenizer = tokenizer,
            SourcePath = dir,
            Resources = bag,
        };
        return ir;
    }

    /// <summary>MobiLlama's one FFN: a layer's own copy when the file has one, otherwise layer 0's.</summary>
    private static string Ffn(HfResolvedConfig resolved, HfWeights weights, Func<int, string> name, int layer) =>
        resolved.Family.SharedFfn && !weights.Contains(name(layer)) ? name(0) : name(layer);

    /// <summary>
    /// Per-layer copies of MobiLlama's shared FFN must be byte-identical to layer 0's: the model runs
    /// one FFN, so differing copies would make the IR compute something MobiLlama does not.
    /// </summary>
    private static void CheckSharedFfnCopies(HfWeights weights, int layers)
    {
        foreach (var name in new Func<int, string>[] { HfNames.Gate, HfNames.Up, HfNames.Down })
        {
            if (!weights.Contains(name(0))) continue;
            var first = weights.FileOf(name(0));
            first.TryGetEntry(name(0), out var e0);
            for (int i = 1; i < layers; i++)
            {
                if (!weights.Contains(name(i))) continue;
                var file = weights.FileOf(name(i));
                file.TryGetEntry(name(i), out var ei);
                bool same = e0.DType == ei.DType && e0.Shape.AsSpan().SequenceEqual(ei.Shape) && first.GetBytes(name(0)).SequenceEqual(file.GetBytes(name(i)));
                if (!same)
                    throw new HfConfigException(HfConfigError.SharedFfnMismatch, file.Path, name(i), $"{ei.DType} {Shapes.Format(ei.Shape)}",
                        $"MobiLlama shares one FFN, but this copy differs from {name(0)}");
            }
        }
    }

    /// <summary>Every used tensor once, in execution order; anything else in the files is an error unless it is a rotary buffer.</summary>
    private static List<Tensor> CollectTensors(HfWeights weights, List<LayerStep> steps, string output)
    {
        var used = new List<string> { HfNames.Embedding };
        foreach (var s in steps) used.AddRange(s.Keys);
        used.Add(HfNames.FinalNorm);
        used.Add(output);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var tensors = new List<Tensor>();
        foreach (var key in used)
        {
            // Missing tensors are left for IrValidator, which reports them against config.json.
            if (seen.Add(key) && weights.Contains(key)) tensors.Add(weights.GetTensor(key));
        }
        foreach (var name in weights.Names)
        {
            if (seen.Contains(name) || name.EndsWith(HfNames.InvFreqSuffix, StringComparison.Ordinal)) continue;
            throw new HfConfigException(HfConfigError.UnknownTensor, weights.FileOf(name).Path, name, "(unused)",
                "tensor not used by the architecture; refusing to drop it silently");
        }
        return tensors;
    }

    /// <summary>
    /// tokenizer.model (sentencepiece) when present, as before; otherwise a byte-level BPE tokenizer.json
    /// (SmolLM2 ships only that). A checkpoint with both is read through its sentencepiece model.
    /// </summary>
    private static TokenizerIr? ReadTokenizer(string dir)
    {
        string modelPath = Path.Combine(dir, HfNames.TokenizerModelFile);
        if (!File.Exists(modelPath)) return ReadTokenizerJson(dir);
        var bytes = HfWeights.ReadCapped(modelPath, SentencePieceModelFile.MaxModelBytes, n => new SentencePieceException(SentencePieceError.FileTooLarge,
            modelPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {SentencePieceModelFile.MaxModelBytes} bytes"));
        string configPath = Path.Combine(dir, HfNames.TokenizerConfigFile);
        string? json = null;
        if (File.Exists(configPath))
        {
            json = System.Text.Encoding.UTF8.GetString(HfWeights.ReadCapped(configPath, HfConfigJson.MaxConfigBytes, n => new SentencePieceException(
                SentencePieceError.BadTokenizerConfig, configPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfConfigJson.MaxConfigBytes} bytes")));
        }
        return SentencePieceModelFile.Read(bytes, modelPath, json);
    }

    private static TokenizerIr? ReadTokenizerJson(string dir)
    {
        string jsonPath = Path.Combine(dir, HfNames.TokenizerJsonFile);
        if (!File.Exists(jsonPath)) return null;
        var json = HfWeights.ReadCapped(jsonPath, HfTokenizerJson.MaxFileBytes, n => new HfTokenizerException(HfTokenizerError.FileTooLarge,
            jsonPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfTokenizerJson.MaxFileBytes} bytes"));
        string configPath = Path.Combine(dir, HfNames.TokenizerConfigFile);
        byte[]? config = File.Exists(configPath)
            ? HfWeights.ReadCapped(configPath, HfConfigJson.MaxConfigBytes, n => new HfTokenizerException(HfTokenizerError.FileTooLarge,
                configPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfConfigJson.MaxConfigBytes} bytes"))
            : null;
        return HfTokenizerJson.Read(json, jsonPath, config, configPath);
    }
}
