using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.SentencePiece;

public enum SentencePieceError
{
    /// <summary>The file is larger than <see cref="SentencePieceModelFile.MaxModelBytes"/>.</summary>
    FileTooLarge,
    /// <summary>Not a protobuf ModelProto (truncated, bad wire type, bad varint...).</summary>
    ParseError,
    NoPieces,
    TooManyPieces,
    EmptyPiece,
    PieceTooLong,
    BadPieceType,
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

public sealed class SentencePieceException(SentencePieceError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<SentencePieceError>(kind, file, field, value, reason, inner)
{
    public override string Format => "sentencepiece";
}
