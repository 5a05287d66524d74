using System.Text;
using Google.Protobuf;
using Google.Protobuf.Collections;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile.Proto;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>The header-to-IR half of the reader: config, tensor table, plan, tokenizer and metadata (SPEC.md rules 12-15).</summary>
internal sealed partial class MobileReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private Core.Ir.ModelConfig DecodeConfig(Proto.ModelConfig c)
    {
        var family = MobileFormat.FromProto(c.Family)
            ?? throw Error(MobileError.BadConfig, "config.family", ((int)c.Family).ToString(), "unknown model family");
        if (c.Architecture.Length is 0 or > MobileFormat.MaxArchitectureChars)
            throw Error(MobileError.BadConfig, "config.architecture", c.Architecture, $"must have 1..{MobileFormat.MaxArchitectureChars} characters");
        if (c.ContextLength <= 0)
            throw Error(MobileError.BadConfig, "config.context_length", c.ContextLength.ToString(), "must be a positive integer");
        if (c.ExecutedLayers <= 0)
            throw Error(MobileError.BadConfig, "config.executed_layers", c.ExecutedLayers.ToString(), "must be a positive integer");
        if (c.HasBosTokenId && (c.BosTokenId < 0 || c.BosTokenId >= c.VocabSize))
            throw Error(MobileError.BadConfig, "config.bos_token_id", c.BosTokenId.ToString(), $"outside the vocabulary of {c.VocabSize}");
        if (c.HasEosTokenId && (c.EosTokenId < 0 || c.EosTokenId >= c.VocabSize))
            throw Error(MobileError.BadConfig, "config.eos_token_id", c.EosTokenId.ToString(), $"outside the vocabulary of {c.VocabSize}");
        return new Core.Ir.ModelConfig
        {
            Family = family,
            Architecture = c.Architecture,
            VocabSize = c.VocabSize,
            HiddenSize = c.HiddenSize,
            IntermediateSize = c.IntermediateSize,
            NumHeads = c.NumHeads,
            NumKvHeads = c.NumKvHeads,
            HeadDim = c.HeadDim,
            StoredLayers = c.StoredLayers,
            ExecutedLayers = c.ExecutedLayers,
            RmsNormEps = c.RmsNormEps,
            RopeTheta = c.RopeTheta,
            ContextLength = c.ContextLength,
            TieClaimFlag = c.HasTieClaimFlag ? c.TieClaimFlag : null,
            BosTokenId = c.HasBosTokenId ? c.BosTokenId : null,
            EosTokenId = c.HasEosTokenId ? c.EosTokenId : null,
        };
    }

    private List<(string Name, long[] Shape, ElementType Type, SectionRef Section)> DecodeTensorEntries(RepeatedField<TensorEntry> entries)
    {
        var result = new List<(string, long[], ElementType, SectionRef)>(entries.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            string field = $"tensors[{i}]";
            int nameBytes = Encoding.UTF8.GetByteCount(e.Name);
            if (nameBytes is 0 or > MobileFormat.MaxNameBytes)
                throw Error(MobileError.BadTensorName, field + ".name", e.Name, $"a name has 1..{MobileFormat.MaxNameBytes} UTF-8 bytes");
            if (!names.Add(e.Name))
                throw Error(MobileError.DuplicateTensorName, field + ".name", e.Name, "another tensor has this name; each stored tensor appears once");
            field = $"tensor {e.Name}";
            if (!MobileFormat.TryFromCode(e.Type, out var type))
                throw Error(MobileError.UnknownElementType, field + ".type", ((int)e.Type).ToString(), "not an element type code of this format");
            var info = type.Info();
            if (e.BlockValues != info.BlockValues || e.BlockBytes != info.BlockBytes)
                throw Error(MobileError.BlockLayoutMismatch, field + ".block_values/block_bytes", $"{e.BlockValues}/{e.BlockBytes}", $"{info.Name} blocks are {info.BlockValues} values in {info.BlockBytes} bytes");
            if (e.Shape.Count > MobileFormat.MaxRank)
                throw Error(MobileError.OverCap, field + ".shape", $"{e.Shape.Count} dimensions", $"above the cap of {MobileFormat.MaxRank} ({nameof(MobileFormat.MaxRank)})");
            var shape = e.Shape.ToArray();
            if (shape.Length == 0 || shape.Any(d => d < 1))
                throw Error(MobileError.ShapeMismatch, field + ".shape", Shapes.Format(shape), "a shape has 1 or more dimensions, each at least 1");
            long? expected;
            try
            {
                expected = type.ByteSize(shape);
            }
            catch (OverflowException)
            {
                throw Error(MobileError.ShapeMismatch, field + ".shape", Shapes.Format(shape), "the element count overflows 64 bits");
            }
            if (expected is null)
                throw Error(MobileError.ShapeMismatch, field + ".shape", Shapes.Format(shape), $"the last dimension is not a whole number of {info.Name} blocks of {info.BlockValues}");
            var section = DecodeSection(e.Data, field, mayCompress: !info.IsQuantized);
            if (section.RawLength != expected)
                throw Error(MobileError.ShapeMismatch, field + ".raw_length", section.RawLength.ToString(), $"{info.Name} {Shapes.Format(shape)} is {expected} bytes");
            result.Add((e.Name, shape, type, section));
        }
        return result;
    }

    private (SectionRef Model, SectionRef? Config)? DecodeTokenizerSections(Proto.Tokenizer? t)
    {
        if (t is null) return null;
        Cap("tokenizer.vocab_size", t.VocabSize, MobileFormat.MaxVocab, nameof(MobileFormat.MaxVocab));
        SectionRef model;
        if (t.HfTokenizerJson is not null)
        {
            if (t.SentencepieceModel is not null)
                throw Error(MobileError.BadTokenizer, JsonSectionName, "(present)", "a tokenizer has a sentencepiece model or a tokenizer.json, not both");
            model = DecodeSection(t.HfTokenizerJson, JsonSectionName, mayCompress: true);
            Cap(JsonSectionName + ".raw_length", model.RawLength, HfTokenizerJson.MaxFileBytes, $"{nameof(HfTokenizerJson)}.{nameof(HfTokenizerJson.MaxFileBytes)}");
        }
        else
        {
            if (t.SentencepieceModel is null)
                throw Error(MobileError.BadTokenizer, ModelSectionName, "(absent)", "the sentencepiece model section is required");
            model = DecodeSection(t.SentencepieceModel, ModelSectionName, mayCompress: true);
            // Checked before the section is decompressed: the parser would refuse it anyway, after the allocation.
            Cap(ModelSectionName + ".raw_length", model.RawLength, SentencePieceModelFile.MaxModelBytes, $"{nameof(SentencePieceModelFile)}.{nameof(SentencePieceModelFile.MaxModelBytes)}");
        }
        var config = t.TokenizerConfig is null ? null : DecodeSection(t.TokenizerConfig, "tokenizer.tokenizer_config", mayCompress: true);
        return (model, config);
    }

    private const string JsonSectionName = "tokenizer.hf_tokenizer_json";

    /// <summary>A byte-level BPE tokenizer: pieces, types, merges and pre-tokenizer from the stored tokenizer.json.</summary>
    private TokenizerIr ParseTokenizerJson(byte[] json)
    {
        try
        {
            var v = HfTokenizerJson.ReadVocabulary(json, file);
            return new TokenizerIr(v.Pieces, new float[v.Pieces.Length], v.Types, 0, 0, 0, null, false, false, SentencePieceModel: null, TokenizerConfigJson: null)
            {
                Kind = TokenizerKind.ByteLevelBpe,
                Merges = v.Merges,
                PreTokenizer = v.PreTokenizer,
            };
        }
        catch (HfTokenizerException e)
        {
            throw Error(MobileError.BadTokenizer, $"{JsonSectionName}.{e.Field}", e.Value, e.Reason, e);
        }
    }

    private const string ModelSectionName = "tokenizer.sentencepiece_model";

    /// <summary>
    /// SPEC.md rule 15: pieces, scores and types come from the ModelProto, parsed by the hostile-input
    /// sentencepiece reader; ids and flags are the header's own.
    /// </summary>
    private TokenizerIr DecodeTokenizer(Proto.Tokenizer t, (SectionRef Model, SectionRef? Config)? sections)
    {
        var (modelSection, configSection) = sections!.Value;
        byte[] model = Load(modelSection).ToArray();
        TokenizerIr parsed;
        if (t.HfTokenizerJson is not null) parsed = ParseTokenizerJson(model);
        else
        {
            try
            {
                // tokenizer_config.json is not passed: add_bos/add_eos are header fields, and the
                // config stays opaque text carried for the runtime.
                parsed = SentencePieceModelFile.Read(model, file, tokenizerConfigJson: null);
            }
            catch (SentencePieceException e)
            {
                throw Error(MobileError.BadTokenizer, $"{ModelSectionName}.{e.Field}", e.Value, e.Reason, e);
            }
        }
        int n = checked((int)t.VocabSize);
        if (parsed.Count != n)
            throw Error(MobileError.BadTokenizer, "tokenizer.vocab_size", n.ToString(), $"the {(t.HfTokenizerJson is null ? "sentencepiece model" : "tokenizer.json")} holds {parsed.Count} pieces");
        CheckId("tokenizer.unk_id", t.UnkId, n);
        CheckId("tokenizer.bos_id", t.BosId, n);
        CheckId("tokenizer.eos_id", t.EosId, n);
        if (t.HasPadId) CheckId("tokenizer.pad_id", t.PadId, n);
        string? json = null;
        if (configSection is not null)
        {
            try
            {
                json = StrictUtf8.GetString(Load(configSection).Read());
            }
            catch (DecoderFallbackException e)
            {
                throw Error(MobileError.BadTokenizer, "tokenizer.tokenizer_config", $"{configSection.RawLength} bytes", "not valid UTF-8", e);
            }
        }
        return parsed with
        {
            UnkId = t.UnkId,
            BosId = t.BosId,
            EosId = t.EosId,
            PadId = t.HasPadId ? t.PadId : null,
            AddBos = t.AddBos,
            AddEos = t.AddEos,
            TokenizerConfigJson = json,
        };
    }

    private void CheckId(string field, int id, int count)
    {
        if (id < 0 || id >= count) throw Error(MobileError.BadTokenizer, field, id.ToString(), $"outside the vocabulary of {count}");
    }

    private IReadOnlyDictionary<string, string> DecodeMetadata(RepeatedField<MetadataEntry> entries)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        string? previous = null;
        for (int i = 0; i < entries.Count; i++)
        {
            var (key, value) = (entries[i].Key, entries[i].Value);
            if (Encoding.UTF8.GetByteCount(key) is 0 or > MobileFormat.MaxMetadataKeyBytes)
                throw Error(MobileError.BadMetadata, $"metadata[{i}].key", key, $"a key has 1..{MobileFormat.MaxMetadataKeyBytes} UTF-8 bytes");
            if (Encoding.UTF8.GetByteCount(value) > MobileFormat.MaxMetadataValueBytes)
                throw Error(MobileError.BadMetadata, $"metadata {key}", $"{Encoding.UTF8.GetByteCount(value)} bytes", $"a value has at most {MobileFormat.MaxMetadataValueBytes} UTF-8 bytes");
            if (previous is not null && string.CompareOrdinal(previous, key) >= 0)
                throw Error(MobileError.BadMetadata, $"metadata[{i}].key", key, previous == key ? "duplicate key" : $"keys must be sorted (ordinal); it follows \"{previous}\"");
            result.Add(key, value);
            previous = key;
        }
        return result;
    }

    private ModelIr BuildIr(Core.Ir.ModelConfig config, List<Tensor> tensors, ExecutionPlan plan, TokenizerIr? tokenizer, ResourceBag resources)
    {
        string Key(uint index, string field)
        {
            if (index >= (uint)tensors.Count)
                throw Error(MobileError.PlanIndexOutOfRange, field, index.ToString(), $"the file stores {tensors.Count} tensors");
            return tensors[(int)index].Name;
        }
        var steps = new List<LayerStep>(plan.Steps.Count);
        for (int i = 0; i < plan.Steps.Count; i++)
        {
            var s = plan.Steps[i];
            string p = $"plan.steps[{i}].";
            steps.Add(new LayerStep(Key(s.AttnNorm, p + "attn_norm"), Key(s.Q, p + "q"), Key(s.K, p + "k"), Key(s.V, p + "v"),
                Key(s.O, p + "o"), Key(s.FfnNorm, p + "ffn_norm"), Key(s.Gate, p + "gate"), Key(s.Up, p + "up"), Key(s.Down, p + "down")));
        }
        var ir = new ModelIr
        {
            Config = config,
            Tensors = tensors,
            Embedding = Key(plan.Embedding, "plan.embedding"),
            FinalNorm = Key(plan.FinalNorm, "plan.final_norm"),
            Output = Key(plan.Output, "plan.output"),
            Steps = steps,
            Tokenizer = tokenizer,
            SourcePath = file,
            Resources = resources,
        };
        try
        {
            IrValidator.Validate(ir, file);
        }
        catch (IrException e)
        {
            var kind = e.Kind switch
            {
                IrError.BadConfig => MobileError.BadConfig,
                IrError.TokenizerMismatch => MobileError.BadTokenizer,
                _ => MobileError.ConfigShapeMismatch,
            };
            throw Error(kind, e.Field, e.Value, e.Reason, e);
        }
        return ir;
    }
}
