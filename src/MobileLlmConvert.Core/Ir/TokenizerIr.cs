namespace MobileLlmConvert.Core.Ir;

/// <summary>sentencepiece piece types (sentencepiece_model.proto ModelProto.SentencePiece.Type).</summary>
public enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>How a <see cref="TokenizerIr"/> turns text into ids.</summary>
public enum TokenizerKind
{
    /// <summary>A sentencepiece BPE model (tokenizer.model; GGUF tokenizer.ggml.model = "llama").</summary>
    SentencePiece,
    /// <summary>
    /// GPT-2 style byte-level BPE (Hugging Face tokenizer.json; GGUF tokenizer.ggml.model = "gpt2"):
    /// <see cref="TokenizerIr.Merges"/> and <see cref="TokenizerIr.PreTokenizer"/> are set.
    /// </summary>
    ByteLevelBpe,
}

/// <summary>One BPE merge rule: the pieces <paramref name="Left"/> and <paramref name="Right"/> become one; rank is the list position.</summary>
public readonly record struct BpeMerge(string Left, string Right);

/// <summary>
/// The tokenizer as carried through conversions: the vocabulary (what GGUF stores) and the
/// serialized sentencepiece ModelProto (what the executor's tokenizer reads), or null where only the
/// vocabulary is known (synthetic models, GGUF): Formats.SentencePiece builds one from the vocabulary.
/// </summary>
public sealed record TokenizerIr(
    IReadOnlyList<string> Pieces,
    IReadOnlyList<float> Scores,
    IReadOnlyList<PieceType> Types,
    int UnkId,
    int BosId,
    int EosId,
    int? PadId,
    bool AddBos,
    bool AddEos,
    byte[]? SentencePieceModel,
    string? TokenizerConfigJson)
{
    public int Count => Pieces.Count;

    public TokenizerKind Kind { get; init; } = TokenizerKind.SentencePiece;

    /// <summary>Byte-level BPE merge rules in rank order (null for sentencepiece, whose merges are its scores).</summary>
    public IReadOnlyList<BpeMerge>? Merges { get; init; }

    /// <summary>
    /// Byte-level BPE pre-tokenizer, named as llama.cpp names it in tokenizer.ggml.pre ("gpt-2", "smollm"):
    /// the name fixes the split regexes exactly (llama.cpp src/llama-vocab.cpp). Null for sentencepiece.
    /// </summary>
    public string? PreTokenizer { get; init; }
}
