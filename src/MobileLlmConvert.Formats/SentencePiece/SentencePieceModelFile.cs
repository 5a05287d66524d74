using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Json;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Tokenization;
using MobileLlmConvert.Formats.SentencePiece.Proto;
using ProtoType = MobileLlmConvert.Formats.SentencePiece.Proto.ModelProto.Types.SentencePiece.Types.Type;

namespace MobileLlmConvert.Formats.SentencePiece;

/// <summary>
/// Reads and writes sentencepiece <c>tokenizer.model</c> files (protobuf ModelProto, schema in
/// formats/sentencepiece/sentencepiece_model.proto) to and from <see cref="TokenizerIr"/>.
/// </summary>
/// <remarks>Spec: formats/sentencepiece/README.md.</remarks>
public static class SentencePieceModelFile
{
    /// <summary>LLaMA's model is ~0.5 MB and Gemma's 256k-piece one ~4 MB; 64 MB leaves room and stops absurd files.</summary>
    public const int MaxModelBytes = 64 << 20;
    /// <summary>The largest vocabularies in use are ~256k pieces; four times that is still a tokenizer.</summary>
    public const int MaxPieces = 1 << 20;
    /// <summary>Longest piece in UTF-8 bytes (real pieces are under ~100 bytes; sentencepiece trains to 16 chars by default).</summary>
    public const int MaxPieceBytes = 1024;

    /// <summary>Reads a tokenizer.model (protobuf ModelProto) and the optional tokenizer_config.json into a <see cref="TokenizerIr"/>.</summary>
    public static TokenizerIr Read(byte[] bytes, string path, byte[]? tokenizerConfigJson)
    {
        if (bytes.Length > MaxModelBytes)
            throw new SentencePieceException(SentencePieceError.FileTooLarge, path, "file length", bytes.Length.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {MaxModelBytes} bytes");
        ModelProto model;
        try
        {
            // Count pieces before materializing them: a 64 MB file of 4-byte pieces would otherwise
            // become ~16 million objects before the cap could be checked.
            int declared = CountPieces(bytes);
            if (declared > MaxPieces)
                throw new SentencePieceException(SentencePieceError.TooManyPieces, path, "pieces", declared.ToString(CultureInfo.InvariantCulture), $"more than {MaxPieces} pieces");
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SentencePieceException(SentencePieceError.ParseError, path, "ModelProto", $"{bytes.Length} bytes", "not a sentencepiece model: " + e.Message, e);
        }
        int count = model.Pieces.Count;
        if (count == 0)
            throw new SentencePieceException(SentencePieceError.NoPieces, path, "pieces", "0", "a model needs at least one piece");
        var trainer = model.TrainerSpec ?? new TrainerSpec();
        CheckEncodingOptions(model, trainer, path);

        var pieces = new string[count];
        var scores = new float[count];
        var types = new PieceType[count];
        var seen = new HashSet<string>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            var p = model.Pieces[i];
            string field = $"pieces[{i}]";
            if (p.Piece.Length == 0)
                throw new SentencePieceException(SentencePieceError.EmptyPiece, path, field, "\"\"", "a piece must not be empty");
            if (System.Text.Encoding.UTF8.GetByteCount(p.Piece) > MaxPieceBytes)
                throw new SentencePieceException(SentencePieceError.PieceTooLong, path, field, p.Piece, $"longer than {MaxPieceBytes} bytes");
            if (!Enum.IsDefined(p.Type))
                throw new SentencePieceException(SentencePieceError.BadPieceType, path, field + ".type", ((int)p.Type).ToString(CultureInfo.InvariantCulture), "not a sentencepiece piece type (1..6)");
            if (!float.IsFinite(p.Score))
                throw new SentencePieceException(SentencePieceError.BadScore, path, field + ".score", p.Score.ToString(CultureInfo.InvariantCulture), "score must be finite");
            if (!seen.Add(p.Piece))
                throw new SentencePieceException(SentencePieceError.DuplicatePiece, path, field, p.Piece, "piece appears more than once");
            if (p.Type == ProtoType.Byte && !IsBytePiece(p.Piece))
                throw new SentencePieceException(SentencePieceError.BadBytePiece, path, field, p.Piece, "a BYTE piece must be spelled <0xNN>");
            pieces[i] = p.Piece;
            scores[i] = p.Score;
            types[i] = (PieceType)(int)p.Type;
        }
        int unk = Id(path, "trainer_spec.unk_id", trainer.UnkId, count, required: true)!.Value;
        int bos = Id(path, "trainer_spec.bos_id", trainer.BosId, count, required: true)!.Value;
        int eos = Id(path, "trainer_spec.eos_id", trainer.EosId, count, required: true)!.Value;
        int? pad = Id(path, "trainer_spec.pad_id", trainer.PadId, count, required: false);
        if (types[unk] != PieceType.Unknown)
            throw new SentencePieceException(SentencePieceError.BadUnknownPiece, path, $"pieces[{unk}].type", types[unk].ToString(), "the piece at unk_id must be of type UNKNOWN");
        // model_interface.cc InitializePieces: "unk is already defined."
        int second = Array.FindIndex(types, t => t == PieceType.Unknown);
        if (second == unk) second = Array.FindIndex(types, unk + 1, t => t == PieceType.Unknown);
        if (second >= 0)
            throw new SentencePieceException(SentencePieceError.BadUnknownPiece, path, $"pieces[{second}].type", types[second].ToString(), $"only the piece at unk_id {unk} may be UNKNOWN");

        var (addBos, addEos) = ReadTokenizerConfig(tokenizerConfigJson, path);
        // Decoding is lossless here: ReadTokenizerConfig has proved the bytes are UTF-8.
        string? configText = tokenizerConfigJson is null ? null : System.Text.Encoding.UTF8.GetString(tokenizerConfigJson);
        return new TokenizerIr(pieces, scores, types, unk, bos, eos, pad, addBos, addEos, bytes, configText);
    }

    /// <summary>
    /// The IR with a sentencepiece ModelProto for its tokenizer when the format stored only the
    /// vocabulary (GGUF): the executor's tokenizer needs the proto's normalizer settings, and
    /// <see cref="Build"/> gives the ones LLaMA's tokenizer.model uses. Other IRs are returned as they are.
    /// </summary>
    public static Core.Ir.ModelIr WithModelProto(Core.Ir.ModelIr ir)
    {
        if (ir.Tokenizer is { Kind: TokenizerKind.SentencePiece, SentencePieceModel: null } tok)
            return ir with { Tokenizer = tok with { SentencePieceModel = Build(tok) } };
        return ir;
    }

    /// <summary>
    /// A LLaMA-style model for a vocabulary: BPE with byte fallback, identity normalization,
    /// a dummy prefix and no whitespace collapsing (the settings of LLaMA's released tokenizer.model).
    /// Deterministic: Google.Protobuf writes fields in field-number order.
    /// </summary>
    public static byte[] Build(TokenizerIr tokenizer)
    {
        var model = new ModelProto
        {
            TrainerSpec = new TrainerSpec
            {
                ModelType = TrainerSpec.Types.ModelType.Bpe,
                VocabSize = tokenizer.Count,
                ByteFallback = true,
                UnkId = tokenizer.UnkId,
                BosId = tokenizer.BosId,
                EosId = tokenizer.EosId,
                PadId = tokenizer.PadId ?? -1,
            },
            NormalizerSpec = new NormalizerSpec
            {
                Name = "identity",
                PrecompiledCharsmap = ByteString.Empty,
                AddDummyPrefix = true,
                RemoveExtraWhitespaces = false,
                EscapeWhitespaces = true,
            },
        };
        for (int i = 0; i < tokenizer.Count; i++)
        {
            model.Pieces.Add(new ModelProto.Types.SentencePiece
            {
                Piece = tokenizer.Pieces[i],
                Score = tokenizer.Scores[i],
                Type = (ProtoType)(int)tokenizer.Types[i],
            });
        }
        return model.ToByteArray();
    }

    /// <summary>Names the normalizer spec's rules may carry: what spm_train writes (normalization_rule_name, or user_defined for a TSV).</summary>
    private static readonly HashSet<string> KnownNormalizers = new(StringComparer.Ordinal) { "", "identity", "nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "user_defined" };

    /// <summary>
    /// What changes encoding is checked here, so the executor's tokenizer never meets a model it cannot
    /// reproduce: model_type (BPE and unigram; google/sentencepiece src/model_factory.cc also has WORD and
    /// CHAR), the precompiled charsmap (what sentencepiece applies, whatever the normalizer's name:
    /// src/normalizer.cc), and the options we do not reproduce.
    /// </summary>
    private static void CheckEncodingOptions(ModelProto model, TrainerSpec trainer, string path)
    {
        if (trainer.ModelType is not (TrainerSpec.Types.ModelType.Bpe or TrainerSpec.Types.ModelType.Unigram))
            throw new SentencePieceException(SentencePieceError.UnsupportedModelType, path, "trainer_spec.model_type", trainer.ModelType.ToString(), "only BPE and unigram models are supported");
        if (trainer.TreatWhitespaceAsSuffix)
            throw new SentencePieceException(SentencePieceError.UnsupportedOption, path, "trainer_spec.treat_whitespace_as_suffix", "true", "whitespace as a suffix is not supported");
        if (model.DenormalizerSpec is { PrecompiledCharsmap.Length: > 0 } denorm)
            throw new SentencePieceException(SentencePieceError.UnsupportedOption, path, "denormalizer_spec.precompiled_charsmap", $"{denorm.PrecompiledCharsmap.Length} bytes", "denormalization rules are not supported");
        var normalizer = model.NormalizerSpec ?? new NormalizerSpec();
        var charsMap = normalizer.PrecompiledCharsmap;
        if (charsMap.Length == 0 && !KnownNormalizers.Contains(normalizer.Name))
            throw new SentencePieceException(SentencePieceError.UnsupportedOption, path, "normalizer_spec.name", normalizer.Name, "an unknown normalizer without a precompiled_charsmap");
        if (charsMap.Length > 0)
        {
            try
            {
                PrecompiledCharsMap.Parse(charsMap.Span);
            }
            catch (CharsMapFormatException e)
            {
                throw new SentencePieceException(SentencePieceError.BadCharsMap, path, e.Field, e.Value, e.Reason, e);
            }
        }
    }

    /// <summary>Number of top-level field-1 (pieces) records, read without parsing them.</summary>
    private static int CountPieces(byte[] bytes)
    {
        var input = new CodedInputStream(bytes);
        int count = 0;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == ModelProto.PiecesFieldNumber) count++;
            input.SkipLastField();
        }
        return count;
    }

    /// <summary>add_bos_token (default true, as LlamaTokenizer) and add_eos_token (default false).</summary>
    /// <param name="json">tokenizer_config.json as bytes: the file's text is checked as UTF-8 here, not decoded with replacement characters first.</param>
    /// <param name="modelPath">The tokenizer.model path, for messages.</param>
    public static (bool AddBos, bool AddEos) ReadTokenizerConfig(byte[]? json, string modelPath)
    {
        if (json is null) return (true, false);
        string path = Path.Combine(Path.GetDirectoryName(modelPath) ?? "", "tokenizer_config.json");
        using var doc = StrictJson.ParseObject(json, HfConfigJson.MaxConfigBytes, maxDepth: 16, "tokenizer_config.json", (failure, field, value, reason, inner) =>
            new SentencePieceException(SentencePieceError.BadTokenizerConfig, path, field,
                failure == JsonFailure.Invalid && inner is JsonException e ? $"line {e.LineNumber}" : value, reason, inner));
        return (Flag(doc.RootElement, "add_bos_token", true, path), Flag(doc.RootElement, "add_eos_token", false, path));
    }

    private static bool Flag(JsonElement root, string name, bool fallback, string path)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new SentencePieceException(SentencePieceError.BadTokenizerConfig, path, name, v.GetRawText(), "must be true or false"),
        };
    }

    private static int? Id(string path, string field, int id, int count, bool required)
    {
        if (id == -1 && !required) return null;
        if (id < 0 || id >= count)
            throw new SentencePieceException(SentencePieceError.IdOutOfRange, path, field, id.ToString(CultureInfo.InvariantCulture), $"must be an id in [0, {count})");
        return id;
    }

    private static bool IsBytePiece(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>' && Uri.IsHexDigit(piece[3]) && Uri.IsHexDigit(piece[4]);
}
