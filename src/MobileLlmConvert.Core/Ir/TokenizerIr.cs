namespace MobileLlmConvert.Core.Ir;

/// <summary>sentencepiece piece types (sentencepiece_model.proto ModelProto.SentencePiece.Type).</summary>
public enum PieceType
{
    /// <summary>An ordinary piece.</summary>
    Normal = 1,
    /// <summary>The unknown-token piece.</summary>
    Unknown = 2,
    /// <summary>A control piece (bos, eos): never produced from text.</summary>
    Control = 3,
    /// <summary>A user-defined piece, matched verbatim in the text.</summary>
    UserDefined = 4,
    /// <summary>A piece reserved but never used.</summary>
    Unused = 5,
    /// <summary>A byte piece &lt;0xNN&gt; for byte fallback.</summary>
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
    /// <summary>Number of pieces (the vocabulary size).</summary>
    public int Count => Pieces.Count;

    /// <summary>Which algorithm encodes with these pieces.</summary>
    public TokenizerKind Kind { get; init; } = TokenizerKind.SentencePiece;

    /// <summary>Byte-level BPE merge rules in rank order (null for sentencepiece, whose merges are its scores).</summary>
    public IReadOnlyList<BpeMerge>? Merges { get; init; }

    /// <summary>
    /// Byte-level BPE pre-tokenizer, named as llama.cpp names it in tokenizer.ggml.pre ("gpt-2", "smollm"):
    /// the name fixes the split regexes exactly (llama.cpp src/llama-vocab.cpp). Null for sentencepiece.
    /// </summary>
    public string? PreTokenizer { get; init; }
}
