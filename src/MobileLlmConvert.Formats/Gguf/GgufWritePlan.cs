using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>One GGUF tensor to write: where its bytes come from and how they are laid out.</summary>
/// <param name="Dims">GGUF dims, innermost first (an HF [out, in] matrix is [in, out]).</param>
/// <param name="PermuteHeads">Heads for the RoPE row permutation (Q: n_heads, K: n_kv_heads), 0 for none.</param>
internal sealed record PlannedTensor(string GgufName, string IrKey, TensorRole Role, Tensor Source, GgmlTypeInfo OutType,
    long[] Dims, long ByteSize, long Offset, int PermuteHeads);

/// <summary>The header of a GGUF to write: metadata in order, tensors with their offsets (running padded sum).</summary>
internal sealed class GgufWritePlan
{
    public required List<KeyValuePair<string, GgufValue>> Metadata { get; init; }
    public required List<PlannedTensor> Tensors { get; init; }

    public static GgufWritePlan Create(ModelIr ir, GgufWriteOptions options)
    {
        if (options.FloatType is not (ElementType.F32 or ElementType.F16))
            throw new ArgumentException($"GGUF float type must be f32 or f16, not {options.FloatType.Info().Name}", nameof(options));
        string file = ir.SourcePath ?? "(model)";
        IrValidator.Validate(ir, file);
        var tokenizer = ir.Tokenizer
            ?? throw new GgufException(GgufError.MissingTokenizer, file, "tokenizer", "(absent)", "llama.cpp cannot load a GGUF without a vocabulary");
        var c = ir.Config;

        var tensors = new List<PlannedTensor>();
        long offset = 0;
        void Add(TensorRole role, int block, string key)
        {
            var source = ir[key];
            var outType = OutputType(source, options.FloatType, file);
            var dims = (long[])source.Shape.Clone();
            Array.Reverse(dims);
            long size = outType.IrType!.Value.ByteSize(source.Shape)!.Value;
            int heads = role switch { TensorRole.Q => c.NumHeads, TensorRole.K => c.NumKvHeads, _ => 0 };
            tensors.Add(new PlannedTensor(TensorNames.Gguf.Name(role, block), key, role, source, outType, dims, size, offset, heads));
            offset = checked(offset + size + Padding(size));
        }
        // Execution order (TensorRoles.Uses): token_embd, then blk.N's nine tensors in role order for
        // every executed step N, output_norm, output. A tied head is left out: llama.cpp then computes
        // logits with token_embd (llama-model.cpp loads output as optional, falling back to tok_embd).
        foreach (var (role, step, key) in TensorRoles.Uses(ir))
        {
            if (role == TensorRole.Output && ir.IsTied) continue;
            Add(role, step ?? -1, key);
        }

        var kv = new List<KeyValuePair<string, GgufValue>>();
        void Put(string key, GgufValue value) => kv.Add(new(key, value));
        Put(GgufKeys.Architecture, GgufValue.String(GgufKeys.Arch));
        Put(GgufKeys.Name, GgufValue.String(options.ModelName ?? DefaultName(ir)));
        Put(GgufKeys.Alignment, GgufValue.UInt32(GgufConstants.DefaultAlignment));
        Put(GgufKeys.FileType, GgufValue.UInt32(FileType(tensors)));
        Put(GgufKeys.BlockCount, GgufValue.UInt32((uint)ir.Steps.Count));
        Put(GgufKeys.ContextLength, GgufValue.UInt32((uint)c.ContextLength));
        Put(GgufKeys.EmbeddingLength, GgufValue.UInt32((uint)c.HiddenSize));
        Put(GgufKeys.FeedForwardLength, GgufValue.UInt32((uint)c.IntermediateSize));
        Put(GgufKeys.HeadCount, GgufValue.UInt32((uint)c.NumHeads));
        Put(GgufKeys.HeadCountKv, GgufValue.UInt32((uint)c.NumKvHeads));
        // llama.cpp assumes head_dim = embedding / heads unless told; MobileLLM's head_dim may differ.
        if (c.HeadDim * c.NumHeads != c.HiddenSize)
        {
            Put(GgufKeys.KeyLength, GgufValue.UInt32((uint)c.HeadDim));
            Put(GgufKeys.ValueLength, GgufValue.UInt32((uint)c.HeadDim));
        }
        Put(GgufKeys.RopeFreqBase, GgufValue.Float32(c.RopeTheta));
        Put(GgufKeys.RmsEps, GgufValue.Float32(c.RmsNormEps));
        Put(GgufKeys.RopeDimensionCount, GgufValue.UInt32((uint)c.HeadDim));
        Put(GgufKeys.VocabSize, GgufValue.UInt32((uint)c.VocabSize));

        if (tokenizer.Kind == TokenizerKind.ByteLevelBpe)
        {
            // As llama.cpp's convert_hf_to_gguf.py writes a byte-level BPE (_set_vocab_gpt2): no scores,
            // merges as "a b", and the pre-tokenizer by name.
            Put(GgufKeys.TokenizerModel, GgufValue.String(GgufKeys.ByteLevelBpeModel));
            Put(GgufKeys.PreTokenizer, GgufValue.String(tokenizer.PreTokenizer
                ?? throw new ArgumentException("a byte-level BPE tokenizer without a pre-tokenizer", nameof(ir))));
            Put(GgufKeys.Tokens, GgufValue.Array(GgufValueType.String, tokenizer.Pieces.ToArray()));
            Put(GgufKeys.TokenType, GgufValue.Array(GgufValueType.Int32, tokenizer.Types.Select(t => (int)t).ToArray()));
            Put(GgufKeys.Merges, GgufValue.Array(GgufValueType.String, (tokenizer.Merges ?? []).Select(m => $"{m.Left} {m.Right}").ToArray()));
        }
        else
        {
            Put(GgufKeys.TokenizerModel, GgufValue.String(GgufKeys.SentencePieceModel));
            Put(GgufKeys.Tokens, GgufValue.Array(GgufValueType.String, tokenizer.Pieces.ToArray()));
            Put(GgufKeys.Scores, GgufValue.Array(GgufValueType.Float32, tokenizer.Scores.ToArray()));
            Put(GgufKeys.TokenType, GgufValue.Array(GgufValueType.Int32, tokenizer.Types.Select(t => (int)t).ToArray()));
        }
        Put(GgufKeys.BosId, GgufValue.UInt32((uint)tokenizer.BosId));
        Put(GgufKeys.EosId, GgufValue.UInt32((uint)tokenizer.EosId));
        Put(GgufKeys.UnkId, GgufValue.UInt32((uint)tokenizer.UnkId));
        if (tokenizer.PadId is int pad) Put(GgufKeys.PadId, GgufValue.UInt32((uint)pad));
        Put(GgufKeys.AddBos, GgufValue.Bool(tokenizer.AddBos));
        Put(GgufKeys.AddEos, GgufValue.Bool(tokenizer.AddEos));

        Put(GgufKeys.OurVersion, GgufValue.UInt32(GgufKeys.OurVersionValue));
        Put(GgufKeys.OurFamily, GgufValue.String(c.Family.ToString()));
        Put(GgufKeys.OurArchitecture, GgufValue.String(c.Architecture));
        Put(GgufKeys.OurStoredLayers, GgufValue.UInt32((uint)c.StoredLayers));
        if (c.TieClaimFlag is { } flag) Put(GgufKeys.OurTieClaimFlag, GgufValue.String(flag));
        Put(GgufKeys.OurTensorNames, GgufValue.Array(GgufValueType.String, tensors.Select(t => t.GgufName).ToArray()));
        Put(GgufKeys.OurTensorKeys, GgufValue.Array(GgufValueType.String, tensors.Select(t => t.IrKey).ToArray()));
        if (options.Quality is { } q)
        {
            Put(GgufKeys.OurQualityBudget, GgufValue.String(q.Budget));
            Put(GgufKeys.OurQualityValue, GgufValue.Float64(q.Value));
            Put(GgufKeys.OurQualityMeasuredKl, GgufValue.Float64(q.MeasuredMeanKl));
            Put(GgufKeys.OurQualityEvalText, GgufValue.String(q.EvalText));
            Put(GgufKeys.OurQualityEvalSha256, GgufValue.String(q.EvalTextSha256));
            Put(GgufKeys.OurQualityTokens, GgufValue.UInt32(checked((uint)q.Tokens)));
            Put(GgufKeys.OurQualityContext, GgufValue.UInt32(checked((uint)q.Context)));
        }
        return new GgufWritePlan { Metadata = kv, Tensors = tensors };
    }

    private static long Padding(long size) => (GgufConstants.DefaultAlignment - size % GgufConstants.DefaultAlignment) % GgufConstants.DefaultAlignment;

    private static GgmlTypeInfo OutputType(Tensor t, ElementType floatType, string file)
    {
        if (t.Type.Info().IsQuantized)
        {
            return GgufConstants.FromIrType(t.Type)
                ?? throw new GgufException(GgufError.UnsupportedTensorType, file, t.Name, t.Type.Info().Name,
                    $"GGUF has no group-{t.Type.Info().BlockValues} type; quantize with group 32 (q8_0, q4_0, q4_1) for GGUF");
        }
        // 1-D norm weights stay f32, as llama.cpp's own converter writes them.
        var target = t.Shape.Length == 1 ? ElementType.F32 : floatType;
        return GgufConstants.FromIrType(target)!;
    }

    /// <summary>general.file_type: the type holding most matrix elements (llama.cpp's "mostly" type).</summary>
    private static uint FileType(List<PlannedTensor> tensors)
    {
        var byType = new Dictionary<ElementType, long>();
        foreach (var t in tensors.Where(t => t.Dims.Length >= 2))
        {
            var type = t.OutType.IrType!.Value;
            byType[type] = byType.GetValueOrDefault(type) + t.Source.ElementCount;
        }
        if (byType.Count == 0) return GgufConstants.FileTypeOf(ElementType.F32);
        var mostly = byType.OrderByDescending(p => p.Value).ThenBy(p => (int)p.Key).First().Key;
        return GgufConstants.FileTypeOf(mostly);
    }

    private static string DefaultName(ModelIr ir)
    {
        if (ir.SourcePath is null) return ir.Config.Architecture;
        // A cache snapshot's folder is a commit hash: name the model after its repo instead.
        var name = HuggingFace.HfCheckpointDir.CacheRepoName(ir.SourcePath) ?? Path.GetFileName(ir.SourcePath.TrimEnd('/', '\\'));
        return name.Length > 0 ? name : ir.Config.Architecture;
    }
}
