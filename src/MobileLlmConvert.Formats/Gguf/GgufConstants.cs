using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>GGUF metadata value types (GGUF spec, gguf_metadata_value_type).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// One row of the ggml tensor-type table: id as stored in GGUF tensor infos, values per block, bytes
/// per block, and the IR element type when the IR can hold it (format knowledge as data, as gguf-py's
/// constants.py keeps it). Ids and block sizes are ggml's (ggml.h ggml_type, ggml-common.h blocks).
/// </summary>
public sealed record GgmlTypeInfo(uint Id, string Name, int BlockValues, int BlockBytes, ElementType? IrType);

/// <summary>Format constants: magic, versions, caps, the ggml type table. Tensor names are a column of <see cref="TensorNames"/>.</summary>
public static class GgufConstants
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;
    public const uint WriteVersion = 3;
    /// <summary>Version 1 used 32-bit counts and is gone from llama.cpp; 2 and 3 share the layout we parse.</summary>
    public const uint MinReadVersion = 2;
    public const uint MaxReadVersion = 3;
    /// <summary>llama.cpp's default when general.alignment is absent (GGUF_DEFAULT_ALIGNMENT).</summary>
    public const uint DefaultAlignment = 32;

    // Caps. Each is far above what any real model needs and far below what would let a hostile
    // header make us allocate gigabytes before the bytes-left checks would catch it.

    /// <summary>A 200-layer model has under 2,000 tensors; 65,536 tensor infos is already a 4 MB+ header.</summary>
    public const long MaxTensorCount = 1 << 16;
    /// <summary>Real files carry a few dozen keys.</summary>
    public const long MaxKeyCount = 1 << 16;
    /// <summary>Longest key or string value (a chat template is tens of KB).</summary>
    public const long MaxStringBytes = 1 << 24;
    /// <summary>Most elements in one array (a 256k vocabulary plus its merges fits many times over).</summary>
    public const long MaxArrayElements = 1 << 24;
    /// <summary>Arrays of arrays are allowed by the spec; deeper nesting has no use and is a stack risk.</summary>
    public const int MaxArrayDepth = 2;
    /// <summary>ggml tensors have at most 4 dimensions (GGML_MAX_DIMS).</summary>
    public const int MaxDims = 4;
    /// <summary>ggml's GGML_MAX_NAME is 64 bytes including the terminator.</summary>
    public const int MaxTensorNameBytes = 63;
    /// <summary>Header bytes we parse; beyond this a file is refused (a 256k-vocabulary header is ~10 MB).</summary>
    public const long MaxHeaderBytes = 1L << 30;
    /// <summary>Largest general.alignment accepted: a power of two no larger than a huge page.</summary>
    public const uint MaxAlignment = 1u << 21;
    /// <summary>Most executed steps accepted from llama.block_count (the largest released models have ~130).</summary>
    public const int MaxBlockCount = 4096;

    public static readonly IReadOnlyList<GgmlTypeInfo> GgmlTypes =
    [
        new(0, "F32", 1, 4, ElementType.F32),
        new(1, "F16", 1, 2, ElementType.F16),
        new(2, "Q4_0", 32, 18, ElementType.Q4_0),
        new(3, "Q4_1", 32, 20, ElementType.Q4_1),
        new(6, "Q5_0", 32, 22, ElementType.Q5_0),
        new(7, "Q5_1", 32, 24, ElementType.Q5_1),
        new(8, "Q8_0", 32, 34, ElementType.Q8_0),
        new(9, "Q8_1", 32, 36, null),
        new(10, "Q2_K", 256, 84, null),
        new(11, "Q3_K", 256, 110, null),
        new(12, "Q4_K", 256, 144, ElementType.Q4_K),
        new(13, "Q5_K", 256, 176, null),
        new(14, "Q6_K", 256, 210, ElementType.Q6_K),
        new(15, "Q8_K", 256, 292, null),
        new(16, "IQ2_XXS", 256, 66, null),
        new(17, "IQ2_XS", 256, 74, null),
        new(18, "IQ3_XXS", 256, 98, null),
        new(19, "IQ1_S", 256, 50, null),
        new(20, "IQ4_NL", 32, 18, null),
        new(21, "IQ3_S", 256, 110, null),
        new(22, "IQ2_S", 256, 82, null),
        new(23, "IQ4_XS", 256, 136, null),
        new(24, "I8", 1, 1, null),
        new(25, "I16", 1, 2, null),
        new(26, "I32", 1, 4, null),
        new(27, "I64", 1, 8, null),
        new(28, "F64", 1, 8, null),
        new(29, "IQ1_M", 256, 56, null),
        new(30, "BF16", 1, 2, ElementType.BF16),
        new(34, "TQ1_0", 256, 54, null),
        new(35, "TQ2_0", 256, 66, null),
        new(39, "MXFP4", 32, 17, null),
    ];

    /// <summary>The ggml types we read and write, in ggml's id order, for error messages.</summary>
    public static string SupportedTypeNames => string.Join(", ", GgmlTypes.Where(t => t.IrType is not null).Select(t => t.Name));

    public static GgmlTypeInfo? FindGgmlType(uint id)
    {
        foreach (var t in GgmlTypes)
        {
            if (t.Id == id) return t;
        }
        return null;
    }

    /// <summary>The ggml type of an IR element type, or null when GGUF has no equivalent (the group-64/128 types).</summary>
    public static GgmlTypeInfo? FromIrType(ElementType type)
    {
        foreach (var t in GgmlTypes)
        {
            if (t.IrType == type) return t;
        }
        return null;
    }

    /// <summary>
    /// llama.cpp's llama_ftype values for general.file_type (include/llama.h). A mostly-Q4_K file is
    /// LLAMA_FTYPE_MOSTLY_Q4_K_S (14): every matrix Q4_K, no Q4_K_M-style upgrades.
    /// </summary>
    public static uint FileTypeOf(ElementType mostly) => mostly switch
    {
        ElementType.F32 => 0,
        ElementType.F16 => 1,
        ElementType.Q4_0 => 2,
        ElementType.Q4_1 => 3,
        ElementType.Q8_0 => 7,
        ElementType.Q5_0 => 8,
        ElementType.Q5_1 => 9,
        ElementType.Q4_K => 14,
        ElementType.Q6_K => 18,
        ElementType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(mostly), mostly, "no llama_ftype for this type"),
    };
}

/// <summary>Metadata keys. llama.* keys follow gguf-py's constants; ours carry the prefix <see cref="OurPrefix"/>.</summary>
public static class GgufKeys
{
    public const string Architecture = "general.architecture";
    public const string Name = "general.name";
    public const string Alignment = "general.alignment";
    public const string FileType = "general.file_type";

    public const string Arch = "llama";
    public const string BlockCount = "llama.block_count";
    public const string ContextLength = "llama.context_length";
    public const string EmbeddingLength = "llama.embedding_length";
    public const string FeedForwardLength = "llama.feed_forward_length";
    public const string HeadCount = "llama.attention.head_count";
    public const string HeadCountKv = "llama.attention.head_count_kv";
    public const string KeyLength = "llama.attention.key_length";
    public const string ValueLength = "llama.attention.value_length";
    public const string RopeFreqBase = "llama.rope.freq_base";
    public const string RmsEps = "llama.attention.layer_norm_rms_epsilon";
    public const string RopeDimensionCount = "llama.rope.dimension_count";
    public const string VocabSize = "llama.vocab_size";

    public const string TokenizerModel = "tokenizer.ggml.model";
    public const string Tokens = "tokenizer.ggml.tokens";
    public const string Scores = "tokenizer.ggml.scores";
    public const string TokenType = "tokenizer.ggml.token_type";
    public const string BosId = "tokenizer.ggml.bos_token_id";
    public const string EosId = "tokenizer.ggml.eos_token_id";
    public const string UnkId = "tokenizer.ggml.unknown_token_id";
    public const string PadId = "tokenizer.ggml.padding_token_id";
    public const string AddBos = "tokenizer.ggml.add_bos_token";
    public const string AddEos = "tokenizer.ggml.add_eos_token";
    /// <summary>sentencepiece vocabularies in llama.cpp are tokenizer.ggml.model = "llama".</summary>
    public const string SentencePieceModel = "llama";
    /// <summary>Byte-level BPE merges, "left right" strings in rank order (llama.cpp splits at the first space after the first character).</summary>
    public const string Merges = "tokenizer.ggml.merges";
    /// <summary>The byte-level BPE pre-tokenizer's name (llama.cpp llama-vocab.cpp; our BpePreTokenizers table).</summary>
    public const string PreTokenizer = "tokenizer.ggml.pre";
    /// <summary>Byte-level BPE vocabularies in llama.cpp are tokenizer.ggml.model = "gpt2" (LLAMA_VOCAB_TYPE_BPE).</summary>
    public const string ByteLevelBpeModel = "gpt2";

    public const string OurPrefix = "mobilellmconvert.";
    /// <summary>Version of our own records; a reader refuses a version it does not know.</summary>
    public const string OurVersion = "mobilellmconvert.version";
    public const uint OurVersionValue = 1;
    public const string OurFamily = "mobilellmconvert.family";
    public const string OurArchitecture = "mobilellmconvert.architecture";
    public const string OurStoredLayers = "mobilellmconvert.stored_layers";
    public const string OurTieClaimFlag = "mobilellmconvert.tie_claim_flag";
    /// <summary>GGUF tensor names, parallel to <see cref="OurTensorKeys"/>.</summary>
    public const string OurTensorNames = "mobilellmconvert.tensor_map.gguf_names";
    /// <summary>Accuracy budget record (<see cref="QualityRecord"/>): budget kind, its value, measured mean KL, evaluation text name and SHA-256, tokens, context.</summary>
    public const string OurQualityBudget = "mobilellmconvert.quality.budget";
    /// <summary>The budget's value (float64): nats, bytes or bits per parameter.</summary>
    public const string OurQualityValue = "mobilellmconvert.quality.value";
    /// <summary>Mean KL measured on the evaluation text (float64, nats).</summary>
    public const string OurQualityMeasuredKl = "mobilellmconvert.quality.measured_mean_kl";
    /// <summary>The evaluation text's name.</summary>
    public const string OurQualityEvalText = "mobilellmconvert.quality.eval_text";
    /// <summary>SHA-256 (hex) of the evaluation text's UTF-8 bytes.</summary>
    public const string OurQualityEvalSha256 = "mobilellmconvert.quality.eval_text_sha256";
    /// <summary>Evaluation tokens scored (uint32).</summary>
    public const string OurQualityTokens = "mobilellmconvert.quality.tokens";
    /// <summary>Evaluation window (uint32).</summary>
    public const string OurQualityContext = "mobilellmconvert.quality.context";
    /// <summary>The IR key each GGUF tensor was written from; repeated keys are shared tensors.</summary>
    public const string OurTensorKeys = "mobilellmconvert.tensor_map.ir_keys";
}
