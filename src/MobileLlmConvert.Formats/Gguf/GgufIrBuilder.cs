using MobileLlmConvert.Core.Ir;
using static MobileLlmConvert.Formats.Gguf.GgufMetadataAccess;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>
/// Turns a validated GGUF header into the IR: config from the llama.* keys, HF-style tensor keys,
/// Q/K rows un-permuted lazily, and (with our records) shared tensors deduplicated again after a
/// byte comparison proves them equal.
/// </summary>
internal static class GgufIrBuilder
{
    /// <summary>Largest width accepted for hidden, intermediate and head sizes (the biggest models use ~50k).</summary>
    private const int MaxWidth = 1 << 20;
    private const int MaxHeads = 1 << 12;
    private const int MaxContext = 1 << 26;

    private sealed record Placed(GgufTensorInfo Info, TensorRole Role, int Block);

    public static ModelIr Build(GgufMetadata m, MappedFile file, ResourceBag resources)
    {
        string arch = m.RequireString(GgufKeys.Architecture);
        if (arch != GgufKeys.Arch)
            throw new GgufException(GgufError.UnsupportedArchitecture, m.Path, GgufKeys.Architecture, arch, "only \"llama\" is supported");
        int blocks = m.RequireInt(GgufKeys.BlockCount, 1, GgufConstants.MaxBlockCount);
        int hidden = m.RequireInt(GgufKeys.EmbeddingLength, 1, MaxWidth);
        int ffn = m.RequireInt(GgufKeys.FeedForwardLength, 1, MaxWidth);
        int heads = m.RequireInt(GgufKeys.HeadCount, 1, MaxHeads);
        int kvHeads = m.OptionalInt(GgufKeys.HeadCountKv, 1, heads) ?? heads;
        if (heads % kvHeads != 0)
            throw new GgufException(GgufError.BadKeyValue, m.Path, GgufKeys.HeadCountKv, Text(kvHeads), $"must divide {GgufKeys.HeadCount} ({heads})");
        int? keyLength = m.OptionalInt(GgufKeys.KeyLength, 2, MaxWidth);
        if (keyLength is null && hidden % heads != 0)
            throw new GgufException(GgufError.BadKeyValue, m.Path, GgufKeys.HeadCount, Text(heads), $"does not divide {GgufKeys.EmbeddingLength} ({hidden}) and {GgufKeys.KeyLength} is absent");
        int headDim = keyLength ?? hidden / heads;
        int valueLength = m.OptionalInt(GgufKeys.ValueLength, 1, MaxWidth) ?? headDim;
        if (valueLength != headDim)
            throw new GgufException(GgufError.BadKeyValue, m.Path, GgufKeys.ValueLength, Text(valueLength), $"must equal the key length {headDim}");
        if (headDim % 2 != 0)
            throw new GgufException(GgufError.BadKeyValue, m.Path, GgufKeys.KeyLength, Text(headDim), "RoPE needs an even head dimension");
        int ropeDims = m.OptionalInt(GgufKeys.RopeDimensionCount, 1, MaxWidth) ?? headDim;
        if (ropeDims != headDim)
            throw new GgufException(GgufError.BadKeyValue, m.Path, GgufKeys.RopeDimensionCount, Text(ropeDims), $"partial rotary is not supported: must equal the head dimension {headDim}");
        int context = m.RequireInt(GgufKeys.ContextLength, 1, MaxContext);
        float eps = m.RequirePositiveFloat(GgufKeys.RmsEps);
        float theta = m.OptionalPositiveFloat(GgufKeys.RopeFreqBase) ?? 10000f;

        var tokenizer = GgufTokenizerReader.Read(m);
        int vocab = GgufTokenizerReader.TokenCount(m)!.Value;
        int? vocabKey = m.OptionalInt(GgufKeys.VocabSize, 1, int.MaxValue);
        if (vocabKey is int vk && vk != vocab)
            throw new GgufException(GgufError.BadKeyValue, m.Path, GgufKeys.VocabSize, Text(vk), $"{GgufKeys.Tokens} has {vocab} tokens");

        var placed = PlaceTensors(m, blocks);
        var config = new ModelConfig
        {
            Family = ModelFamily.Llama,
            Architecture = "LlamaForCausalLM",
            VocabSize = vocab,
            HiddenSize = hidden,
            IntermediateSize = ffn,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            StoredLayers = blocks,
            ExecutedLayers = blocks,
            RmsNormEps = eps,
            RopeTheta = theta,
            ContextLength = context,
        };
        // Shapes from the role table (the config's dimensions are all it reads); the remaining
        // fields are filled in after the tensor checks, so faults are reported in the same order.
        foreach (var p in placed.Values)
        {
            var shape = p.Info.Shape;
            var expected = p.Role.ExpectedShape(config);
            if (!shape.AsSpan().SequenceEqual(expected))
                throw new GgufException(GgufError.ShapeMismatch, m.Path, p.Info.Name, Shapes.Format(shape), $"the metadata keys imply {Shapes.Format(expected)}");
            if (p.Info.Type.IrType is null)
                throw new GgufException(GgufError.UnsupportedTensorType, m.Path, p.Info.Name + ".type", p.Info.Type.Name, $"supported types are {GgufConstants.SupportedTypeNames}");
            // IR tensors are addressed with spans (Core TensorSource): one tensor is at most Array.MaxLength bytes.
            if (p.Info.ByteSize > Array.MaxLength)
                throw new GgufException(GgufError.UnsupportedTensorType, m.Path, p.Info.Name, $"{p.Info.ByteSize} bytes", $"single tensors above {Array.MaxLength} bytes are not supported");
        }
        // Everything but the head is required: without output.weight llama.cpp uses token_embd as the head.
        Require(m, placed, TensorNames.Gguf.Name(TensorRole.TokenEmbedding));
        Require(m, placed, TensorNames.Gguf.Name(TensorRole.OutputNorm));
        for (int b = 0; b < blocks; b++)
        {
            foreach (var role in TensorRoles.Step) Require(m, placed, TensorNames.Gguf.Name(role, b));
        }

        var record = GgufSharingRecord.Read(m, blocks);

        string KeyOf(Placed p) => record?.IrKeyOf[p.Info.Name] ?? TensorNames.HuggingFace.Name(p.Role, p.Block);

        // One IR tensor per distinct key, in file order; later uses of a key must be byte-identical copies.
        var byKey = new Dictionary<string, Placed>(StringComparer.Ordinal);
        int PermuteHeads(TensorRole role) => role switch { TensorRole.Q => heads, TensorRole.K => kvHeads, _ => 0 };
        var tensors = new List<Tensor>();
        foreach (var info in m.Tensors)
        {
            var p = placed[info.Name];
            string key = KeyOf(p);
            if (byKey.TryGetValue(key, out var first))
            {
                CheckSameContent(m, file, key, first, p, PermuteHeads(first.Role) == PermuteHeads(p.Role));
                continue;
            }
            byKey.Add(key, p);
            tensors.Add(new Tensor(key, info.Shape, info.Type.IrType!.Value, Source(m, file, info, PermuteHeads(p.Role))));
        }

        string Key(TensorRole role, int block = -1) => KeyOf(placed[TensorNames.Gguf.Name(role, block)]);
        var steps = new List<LayerStep>(blocks);
        for (int b = 0; b < blocks; b++)
        {
            int block = b;
            steps.Add(LayerStep.FromRoles(role => Key(role, block)));
        }
        string embedding = Key(TensorRole.TokenEmbedding);
        string output = placed.TryGetValue(TensorNames.Gguf.Name(TensorRole.Output), out var head) ? KeyOf(head) : embedding;

        config = config with
        {
            Family = record?.Family ?? ModelFamily.Llama,
            Architecture = record?.Architecture ?? "LlamaForCausalLM",
            StoredLayers = record?.StoredLayers ?? blocks,
            TieClaimFlag = record?.TieClaimFlag,
            BosTokenId = tokenizer?.BosId ?? m.OptionalInt(GgufKeys.BosId, 0, vocab - 1),
            EosTokenId = tokenizer?.EosId ?? m.OptionalInt(GgufKeys.EosId, 0, vocab - 1),
        };
        var ir = new ModelIr
        {
            Config = config,
            Tensors = tensors,
            Embedding = embedding,
            FinalNorm = Key(TensorRole.OutputNorm),
            Output = output,
            Steps = steps,
            Tokenizer = tokenizer,
            SourcePath = m.Path,
            Resources = resources,
        };
        IrValidator.Validate(ir, m.Path);
        return ir;
    }

    private static Dictionary<string, Placed> PlaceTensors(GgufMetadata m, int blocks)
    {
        var placed = new Dictionary<string, Placed>(StringComparer.Ordinal);
        foreach (var info in m.Tensors)
        {
            if (!TensorNames.Gguf.TryParse(info.Name, out var role, out int block))
                throw new GgufException(GgufError.UnexpectedTensor, m.Path, info.Name, Shapes.Format(info.Shape), "not a tensor of the llama architecture");
            if (block >= blocks)
                throw new GgufException(GgufError.UnexpectedTensor, m.Path, info.Name, Text(block), $"block index past {GgufKeys.BlockCount} ({blocks})");
            placed.Add(info.Name, new Placed(info, role, block));
        }
        return placed;
    }

    private static void Require(GgufMetadata m, Dictionary<string, Placed> placed, string name)
    {
        if (!placed.ContainsKey(name))
            throw new GgufException(GgufError.MissingTensor, m.Path, name, "(absent)", "required by the llama architecture and the metadata keys");
    }

    /// <summary>
    /// Two GGUF tensors recorded as one IR key must have the same shape, type and bytes, and be stored
    /// the same way (both RoPE-permuted with one head count, or neither). Roles may differ: dedup merges
    /// byte-identical tensors whatever they serve (e.g. an attention norm equal to the FFN norm).
    /// </summary>
    private static void CheckSameContent(GgufMetadata m, MappedFile file, string key, Placed first, Placed other, bool samePermutation)
    {
        if (!samePermutation || first.Info.Type != other.Info.Type || !first.Info.Dims.AsSpan().SequenceEqual(other.Info.Dims))
            throw new GgufException(GgufError.BadSharingRecord, m.Path, other.Info.Name, key,
                $"recorded as the same IR tensor as {first.Info.Name} but differs in RoPE permutation, type or shape");
        var a = file.Span(m.DataOffset + first.Info.Offset, first.Info.ByteSize);
        var b = file.Span(m.DataOffset + other.Info.Offset, other.Info.ByteSize);
        if (!a.SequenceEqual(b))
            throw new GgufException(GgufError.SharedTensorMismatch, m.Path, other.Info.Name, key,
                $"recorded as shared with {first.Info.Name} but the bytes differ");
    }

    private static TensorSource Source(GgufMetadata m, MappedFile file, GgufTensorInfo info, int permuteHeads)
    {
        long offset = m.DataOffset + info.Offset;
        if (permuteHeads == 0) return file.Slice(offset, info.ByteSize);
        int rows = checked((int)info.Dims[1]);
        long length = info.ByteSize;
        return new ComputedSource(length, dst => RopePermutation.Unpermute(file.Span(offset, length), dst, rows, permuteHeads));
    }
}
