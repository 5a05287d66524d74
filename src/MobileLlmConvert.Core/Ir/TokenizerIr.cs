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
}
