using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// Reads an ONNX folder written by mlconvert (or its model.onnx) back into the exact IR it was written
/// from: the container checked (<see cref="OnnxContainer"/>), the `mlconvert.*` metadata parsed
/// (<see cref="ReaderMetadata"/>), the graph rebuilt with the recorded profile and compared
/// (<see cref="ReaderGraph"/>), then every stored tensor decoded lazily through the profile's inverse
/// encoding (<see cref="IOnnxProfile.Decode"/>, the one place that knows its layout). Folders from other
/// exporters are refused: their graphs are not the shape we run.
/// </summary>
/// <remarks>Layout, metadata keys and every refusal: formats/onnx.md ("Reading").</remarks>
internal static class OnnxReader
{
    /// <summary>Reads the folder (or its model.onnx) at <paramref name="path"/>; the IR owns the mapped data file.</summary>
    public static ModelIr Read(string path, ReadOptions options)
    {
        if (options.Family is not null)
            throw new ModelUsageException($"--family: {path} is a {OnnxFormat.FormatName} model, not a Hugging Face checkpoint; its family is stored in it");
        var bag = new ResourceBag();
        try
        {
            return Read(path, bag);
        }
        catch
        {
            // A rejected folder is unmapped at once: a long-running caller must not collect mappings of bad inputs.
            bag.Dispose();
            throw;
        }
    }

    private static ModelIr Read(string path, ResourceBag bag)
    {
        var c = OnnxContainer.Open(path, bag);
        string file = c.ModelFile;
        var rec = ReaderMetadata.Parse(c);
        var keyOfName = rec.Tensors.ToDictionary(t => t.Name, t => t.Key, StringComparer.Ordinal);
        var steps = new List<LayerStep>(rec.Steps.Length);
        for (int s = 0; s < rec.Steps.Length; s++)
        {
            int step = s;
            steps.Add(LayerStep.FromRoles(role =>
            {
                int r = IndexOf(role);
                string name = TensorNames.Onnx.Name(role, rec.Steps[step][r]);
                return keyOfName.TryGetValue(name, out var key) ? key
                    : throw new OnnxException(OnnxError.BadMetadata, file, $"{OnnxMetadata.StepsKey}[{step}]", rec.Steps[step][r].ToString(System.Globalization.CultureInfo.InvariantCulture),
                        $"no stored tensor {name} for its {role.Info().Name}");
            }));
        }
        var stored = c.Initializers.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var tensors = new List<Tensor>(rec.Tensors.Count);
        foreach (var t in rec.Tensors)
        {
            if (rec.Profile.CannotStore(t.Type) is { } why)
                throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TensorsKey + "." + t.Name, t.Type.Info().Name, why);
            if (t.Type.ByteSize(t.Shape) is not long bytes || bytes > Array.MaxLength)
                throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TensorsKey + "." + t.Name, Shapes.Format(t.Shape), $"not a whole number of {t.Type.Info().Name} blocks that fits one tensor");
            tensors.Add(new Tensor(t.Key, t.Shape, t.Type, Decoded(rec.Profile, t, bytes, stored)));
        }
        foreach (var key in new[] { rec.Embedding, rec.FinalNorm, rec.Output })
        {
            if (!tensors.Any(t => t.Name == key))
                throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.ModelKeysKey, key, $"not among the tensors of {OnnxMetadata.TensorsKey}");
        }
        var ir = new ModelIr
        {
            Config = rec.Config,
            Tensors = tensors,
            Embedding = rec.Embedding,
            FinalNorm = rec.FinalNorm,
            Output = rec.Output,
            Steps = steps,
            SourcePath = path,
            Resources = bag,
        };
        // Shapes against the config first (IrException names the field), then the names the writer would give.
        IrValidator.Validate(ir, file);
        var names = OnnxGraph.WeightNames(ir);
        foreach (var t in rec.Tensors)
        {
            if (!names.TryGetValue(t.Key, out var name))
                throw new OnnxException(OnnxError.UnexpectedInitializer, file, OnnxMetadata.TensorsKey + "." + t.Name, t.Key, "recorded but used by no step, embedding, norm or head");
            if (name != t.Name)
                throw new OnnxException(OnnxError.BadMetadata, file, OnnxMetadata.TensorsKey + "." + t.Key, t.Name, $"its first use names it {name}");
        }
        var graph = OnnxGraph.Build(ir, rec.Profile);
        ReaderGraph.Check(c, graph);
        ir = ir with { Tensors = ir.Tensors.Select(t => Mapped(t, graph, stored)).ToList() };
        var (tokenizer, note) = ReadTokenizer(c.Folder);
        ir = ir with { Tokenizer = tokenizer, ImportNotes = note is null ? [] : [note] };
        IrValidator.Validate(ir, file);
        return ir;
    }

    /// <summary>
    /// A tensor the profile stores as its own bytes (its encoding is one initializer filled by the
    /// tensor source's CopyTo: floats in both profiles) is the stored initializer itself, a zero-copy
    /// view of the mapped data file, as every other reader's float tensors are; others stay decoded.
    /// </summary>
    private static Tensor Mapped(Tensor t, OnnxGraphBuilder graph, Dictionary<string, OnnxStoredTensor> stored)
    {
        if (!graph.Weights.TryGetValue(t.Name, out var w) || w.Initializers.Count != 1) return t;
        var init = w.Initializers[0];
        bool identity = ReferenceEquals(init.Fill.Target, t.Source) && init.Fill.Method.Name == nameof(TensorSource.CopyTo) && init.ByteLength == t.ByteLength;
        return identity && stored[init.Name].Source.Length == t.ByteLength ? new Tensor(t.Name, t.Shape, t.Type, stored[init.Name].Source) : t;
    }

    /// <summary>The IR bytes of one stored tensor, decoded on demand from its initializers (zero-copy views of the mapped data file).</summary>
    private static TensorSource Decoded(IOnnxProfile profile, OnnxRecordedTensor t, long bytes, Dictionary<string, OnnxStoredTensor> stored) =>
        new ComputedSource(bytes, dst => profile.Decode(t.Name, t.Type, t.Shape, name => stored[name].Source.Read(), dst));

    /// <summary>
    /// The tokenizer files beside model.onnx, read as a checkpoint's are: tokenizer.model first (the writer
    /// puts it beside tokenizer.json whenever the IR carries one), else a byte-level BPE tokenizer.json.
    /// A sentencepiece-style tokenizer.json alone (written from a vocabulary without its ModelProto) has no
    /// reader yet: the model is then read without a tokenizer, and a note says so.
    /// </summary>
    private static (TokenizerIr? Tokenizer, string? Note) ReadTokenizer(string folder)
    {
        if (folder.Length == 0) return (null, null);
        var dir = HfCheckpointDir.Open(folder);
        try
        {
            return (HfImporter.ReadTokenizer(dir), null);
        }
        catch (HfTokenizerException e) when (e.Kind == HfTokenizerError.Unsupported && dir.TryResolveFile(HfNames.TokenizerModelFile) is null)
        {
            return (null, $"{HfNames.TokenizerJsonFile} holds a sentencepiece vocabulary and no {HfNames.TokenizerModelFile} lies beside it: read without a tokenizer (token ids only)");
        }
    }

    private static int IndexOf(TensorRole role)
    {
        for (int i = 0; i < TensorRoles.Step.Count; i++)
        {
            if (TensorRoles.Step[i] == role) return i;
        }
        throw new ArgumentOutOfRangeException(nameof(role), role, "not a per-step role");
    }
}
