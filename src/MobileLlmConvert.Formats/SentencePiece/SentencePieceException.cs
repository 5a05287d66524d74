using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.SentencePiece;

/// <summary>One kind per way a sentencepiece tokenizer.model can be bad.</summary>
public enum SentencePieceError
{
    /// <summary>The file is larger than <see cref="SentencePieceModelFile.MaxModelBytes"/>.</summary>
    FileTooLarge,
    /// <summary>Not a protobuf ModelProto (truncated, bad wire type, bad varint...).</summary>
    ParseError,
    /// <summary>The model lists no pieces.</summary>
    NoPieces,
    /// <summary>More pieces than <see cref="SentencePieceModelFile.MaxPieces"/>.</summary>
    TooManyPieces,
    /// <summary>A piece with no bytes.</summary>
    EmptyPiece,
    /// <summary>A piece longer than <see cref="SentencePieceModelFile.MaxPieceBytes"/>.</summary>
    PieceTooLong,
    /// <summary>A piece type the format does not define.</summary>
    BadPieceType,
    /// <summary>The same piece twice.</summary>
    DuplicatePiece,
    /// <summary>unk/bos/eos/pad id outside the vocabulary (or -1 where an id is required).</summary>
    IdOutOfRange,
    /// <summary>The piece at unk_id is not of type UNKNOWN.</summary>
    BadUnknownPiece,
    /// <summary>A BYTE piece that is not spelled &lt;0xNN&gt;.</summary>
    BadBytePiece,
    /// <summary>A model type other than BPE or unigram (WORD and CHAR models are refused).</summary>
    UnsupportedModelType,
    /// <summary>An encoding option this toolchain does not reproduce (treat_whitespace_as_suffix, denormalization rules).</summary>
    UnsupportedOption,
    /// <summary>normalizer_spec.precompiled_charsmap is malformed (trie size, unit index, string offset, not a trie).</summary>
    BadCharsMap,
    /// <summary>A score that is NaN or infinite.</summary>
    BadScore,
    /// <summary>tokenizer_config.json is not JSON, not an object, or add_bos_token/add_eos_token is not a boolean.</summary>
    BadTokenizerConfig,
}

/// <summary>A sentencepiece model file (or its tokenizer_config.json) that is malformed or hostile.</summary>
public sealed class SentencePieceException(SentencePieceError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<SentencePieceError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "sentencepiece";
}
