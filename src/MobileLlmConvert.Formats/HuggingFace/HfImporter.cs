using System.Globalization;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// Reads a Hugging Face checkpoint directory (config.json, model.safetensors or pytorch_model.bin or shards + index,
/// optional tokenizer.model and tokenizer_config.json) into the IR. Tensors stay mapped and lazy.
/// Sharing is expressed the IR way: MobileLLM-LS steps name each stored block twice, MobiLlama's
/// steps all name the shared FFN, a claimed tie without lm_head names the embedding as the head.
/// </summary>
/// <remarks>Specs: the Hub model cards and config.json of facebook/MobileLLM-* and MBZUAI/MobiLlama-*, https://github.com/huggingface/safetensors, formats/safetensors.md, formats/torch.md, formats/sentencepiece/README.md.</remarks>
public static class HfImporter
{
    /// <summary>Rotary buffers older transformers saved; derived from the config, so skipping them loses nothing.</summary>
    private const string InvFreqSuffix = ".self_attn.rotary_emb.inv_freq";
    private static readonly TensorNameColumn Hf = TensorNames.HuggingFace;
    private static readonly string Embedding = Hf.Name(TensorRole.TokenEmbedding);
    private static readonly string FinalNorm = Hf.Name(TensorRole.OutputNorm);
    private static readonly string Head = Hf.Name(TensorRole.Output);

    /// <summary>
    /// Imports the checkpoint at <paramref name="dir"/>: a plain folder, a Hugging Face cache snapshot
    /// (models--ORG--NAME/snapshots/REV) or cache repo folder (followed through refs/main). Every
    /// file is opened through <see cref="HfCheckpointDir"/>'s one symlink rule.
    /// </summary>
    public static ModelIr Import(string dir, ResourceBag? resources = null, HfImportOptions? options = null)
    {
        var checkpoint = HfCheckpointDir.Open(dir);
        string configPath = checkpoint.TryResolveFile(HfNames.ConfigFile)
            ?? throw new HfConfigException(HfConfigError.FileMissing, Path.Combine(dir, HfNames.ConfigFile), "(file)", dir,
                Directory.Exists(dir) ? "a Hugging Face checkpoint needs config.json" : "directory does not exist");
        var configBytes = HfWeights.ReadCapped(configPath, HfConfigJson.MaxConfigBytes, n => new HfConfigException(HfConfigError.FileTooLarge,
            configPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfConfigJson.MaxConfigBytes} bytes"));
        var resolved = HfFamilies.Resolve(HfConfigJson.Parse(configBytes, configPath), configPath, options);
        var tokenizer = ReadTokenizer(checkpoint);

        bool ownsBag = resources is null;
        var bag = resources ?? new ResourceBag();
        try
        {
            var weights = HfWeights.Open(checkpoint, bag);
            var ir = Build(resolved, weights, tokenizer, configPath, checkpoint.Folder, bag, forced: options?.Family is not null);
            IrValidator.Validate(ir, configPath);
            return ir with { SourceFiles = FilesRead(checkpoint, tokenizer, weights) };
        }
        catch
        {
            if (ownsBag) bag.Dispose();
            throw;
        }
    }

    private static ModelIr Build(HfResolvedConfig resolved, HfWeights weights, TokenizerIr? tokenizer, string configPath, string dir, ResourceBag bag, bool forced)
    {
        var c = resolved.Config;
        var notes = new List<string>(resolved.Notes);
        if (!forced) CheckNotMhaInDisguise(resolved, weights, configPath);
        if (resolved.Family.SharedFfn) notes.Add(HfFamilyDecisions.DecideSharedFfn(weights, c.StoredLayers, dir));
        var steps = new List<LayerStep>();
        for (int i = 0; i < c.StoredLayers; i++)
        {
            int block = i;
            var step = LayerStep.FromRoles(role => Name(resolved, weights, role, block))
                .Remap(weights.CanonicalName); // names aliasing one torch storage become one key
            steps.Add(step);
            // MobileLLM-LS: the repeat is hard-coded x2, immediately block-wise (0,0,1,1,...), in modeling_mobilellm.py of facebook/MobileLLM-125M-layer-share.
            if (resolved.LayerSharing) steps.Add(step);
        }

        string output;
        var ignored = new HashSet<string>(StringComparer.Ordinal);
        if (resolved.HeadIsEmbedding)
        {
            // The family's code never reads a stored head: neither do we, whatever its bytes.
            output = Embedding;
            if (weights.Contains(Head))
            {
                ignored.Add(Head);
                notes.Add(HfFamilyDecisions.IgnoredHeadNote(resolved, weights));
            }
        }
        else if (weights.Contains(Head)) output = weights.CanonicalName(Head); // kept as stored: a pass compares bytes before tying (a head aliasing the embedding's storage is already one key)
        else if (c.TieClaimFlag is not null) output = Embedding;
        else
        {
            string flags = string.Join(", ", resolved.Family.TieFlags.Select(f => $"{f} absent or false"));
            throw new HfConfigException(HfConfigError.MissingHead, configPath, Head, "(absent)", $"no output head and no tie claimed ({flags})");
        }

        var ir = new ModelIr
        {
            Config = c,
            Tensors = CollectTensors(weights, steps, output, ignored),
            Embedding = Embedding,
            FinalNorm = FinalNorm,
            Output = output,
            Steps = steps,
            Tokenizer = tokenizer,
            SourcePath = dir,
            Resources = bag,
            ImportNotes = notes,
        };
        return ir;
    }

    /// <summary>
    /// The name of a block's tensor; for MobiLlama's one FFN, a layer's own copy when the file has one,
    /// otherwise layer 0's.
    /// </summary>
    private static string Name(HfResolvedConfig resolved, HfWeights weights, TensorRole role, int layer)
    {
        string own = Hf.Name(role, layer);
        return resolved.Family.SharedFfn && TensorRoles.Ffn.Contains(role) && !weights.Contains(own) ? Hf.Name(role, 0) : own;
    }

    /// <summary>
    /// Early MobiLlama-05B revisions declare LlamaForCausalLM with num_key_value_heads 4 while their
    /// k_proj is full MHA width: Llama rules would fail on a shape, so say what it probably is.
    /// </summary>
    private static void CheckNotMhaInDisguise(HfResolvedConfig resolved, HfWeights weights, string configPath)
    {
        var c = resolved.Config;
        if (resolved.Family != HfFamilies.Llama || c.NumKvHeads == c.NumHeads || !weights.Contains(Hf.Name(TensorRole.K, 0))) return;
        var k = weights.GetTensor(Hf.Name(TensorRole.K, 0));
        if (k.Shape.Length == 2 && k.Shape[0] == (long)c.NumHeads * c.HeadDim)
            throw new HfConfigException(HfConfigError.AmbiguousFamily, configPath, "num_key_value_heads", c.NumKvHeads.ToString(CultureInfo.InvariantCulture),
                $"{Hf.Name(TensorRole.K, 0)} is {k.Shape[0]} rows, full MHA for {c.NumHeads} heads (an early MobiLlama revision?); pass --family mobillama to read it as MobiLlama");
    }

    /// <summary>Every used tensor once, in execution order; anything else in the files is an error unless it is a rotary buffer.</summary>
    private static List<Tensor> CollectTensors(HfWeights weights, List<LayerStep> steps, string output, HashSet<string> ignored)
    {
        var used = new List<string> { Embedding };
        foreach (var s in steps) used.AddRange(s.Keys);
        used.Add(FinalNorm);
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
            if (seen.Contains(weights.CanonicalName(name)) || ignored.Contains(name) || name.EndsWith(InvFreqSuffix, StringComparison.Ordinal)) continue;
            throw new HfConfigException(HfConfigError.UnknownTensor, weights.FileOf(name).Path, name, "(unused)",
                "tensor not used by the architecture; refusing to drop it silently");
        }
        return tensors;
    }

    /// <summary>
    /// The files this import read, as named in the checkpoint folder (a cache snapshot's links, not
    /// their blobs, so a snapshot hashes like the plain folder it mirrors): what a bundle's source
    /// hash covers and what output safety protects (it resolves links itself).
    /// </summary>
    private static List<string> FilesRead(HfCheckpointDir dir, TokenizerIr? tokenizer, HfWeights weights)
    {
        var files = new List<string> { Path.Combine(dir.Folder, HfNames.ConfigFile) };
        if (tokenizer is not null)
        {
            string model = tokenizer.Kind == TokenizerKind.ByteLevelBpe ? HfNames.TokenizerJsonFile : HfNames.TokenizerModelFile;
            foreach (var name in new[] { model, HfNames.TokenizerConfigFile })
                if (dir.TryResolveFile(name) is not null) files.Add(Path.Combine(dir.Folder, name));
        }
        if (weights.IndexName is { } index) files.Add(Path.Combine(dir.Folder, index));
        files.AddRange(weights.FileNames.Select(f => Path.Combine(dir.Folder, f)));
        return files;
    }

    /// <summary>
    /// tokenizer.model (sentencepiece) when present; otherwise a byte-level BPE tokenizer.json
    /// (SmolLM2 ships only that). A checkpoint with both is read through its sentencepiece model.
    /// </summary>
    internal static TokenizerIr? ReadTokenizer(HfCheckpointDir dir)
    {
        string? modelPath = dir.TryResolveFile(HfNames.TokenizerModelFile);
        if (modelPath is null) return ReadTokenizerJson(dir);
        var bytes = HfWeights.ReadCapped(modelPath, SentencePieceModelFile.MaxModelBytes, n => new SentencePieceException(SentencePieceError.FileTooLarge,
            modelPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {SentencePieceModelFile.MaxModelBytes} bytes"));
        string? configPath = dir.TryResolveFile(HfNames.TokenizerConfigFile);
        byte[]? json = null;
        if (configPath is not null)
        {
            json = HfWeights.ReadCapped(configPath, HfConfigJson.MaxConfigBytes, n => new SentencePieceException(
                SentencePieceError.BadTokenizerConfig, configPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfConfigJson.MaxConfigBytes} bytes"));
        }
        return SentencePieceModelFile.Read(bytes, modelPath, json);
    }

    private static TokenizerIr? ReadTokenizerJson(HfCheckpointDir dir)
    {
        string? jsonPath = dir.TryResolveFile(HfNames.TokenizerJsonFile);
        if (jsonPath is null) return null;
        var json = HfWeights.ReadCapped(jsonPath, HfTokenizerJson.MaxFileBytes, n => new HfTokenizerException(HfTokenizerError.FileTooLarge,
            jsonPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfTokenizerJson.MaxFileBytes} bytes"));
        string? configPath = dir.TryResolveFile(HfNames.TokenizerConfigFile);
        byte[]? config = configPath is not null
            ? HfWeights.ReadCapped(configPath, HfConfigJson.MaxConfigBytes, n => new HfTokenizerException(HfTokenizerError.FileTooLarge,
                configPath, "file length", n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {HfConfigJson.MaxConfigBytes} bytes"))
            : null;
        return HfTokenizerJson.Read(json, jsonPath, config, configPath ?? Path.Combine(dir.Folder, HfNames.TokenizerConfigFile));
    }
}
