using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>One kind per rule the GGUF reader enforces (formats/gguf.md lists each with its rule).</summary>
public enum GgufError
{
    /// <summary>The first four bytes are not "GGUF".</summary>
    BadMagic,
    /// <summary>Version other than 2 or 3 (1 used 32-bit counts; a byte-swapped version is a big-endian file).</summary>
    UnsupportedVersion,
    /// <summary>A read ran past the end of the file (or past the header cap).</summary>
    Truncated,
    /// <summary>tensor_count above the cap or above what the bytes left could hold.</summary>
    TooManyTensors,
    /// <summary>metadata_kv_count above the cap or above what the bytes left could hold.</summary>
    TooManyKeys,
    /// <summary>A string length above the cap or the bytes left.</summary>
    StringTooLong,
    /// <summary>A key, value or tensor name that is not valid UTF-8, or an empty key or name.</summary>
    InvalidString,
    /// <summary>An array length above the cap, or length x element size above the bytes left.</summary>
    ArrayTooLong,
    /// <summary>Arrays nested deeper than <see cref="GgufConstants.MaxArrayDepth"/>.</summary>
    NestedArrayTooDeep,
    /// <summary>A metadata value type id the spec does not define.</summary>
    UnknownValueType,
    /// <summary>A metadata key that appears twice.</summary>
    DuplicateKey,
    /// <summary>A tensor name that appears twice.</summary>
    DuplicateTensor,
    /// <summary>A tensor name longer than ggml's limit.</summary>
    TensorNameTooLong,
    /// <summary>n_dims outside 1..4.</summary>
    BadDimensionCount,
    /// <summary>A dimension of 0, an element count that overflows, or an innermost size that is not whole blocks.</summary>
    BadDimension,
    /// <summary>A ggml type id that ggml does not define.</summary>
    UnknownTensorType,
    /// <summary>A ggml type the IR cannot hold (reader), or an IR type GGUF cannot hold (writer).</summary>
    UnsupportedTensorType,
    /// <summary>general.alignment not a power of two, zero, above the cap, or not an unsigned integer.</summary>
    BadAlignment,
    /// <summary>A tensor offset that is not a multiple of the alignment.</summary>
    MisalignedOffset,
    /// <summary>A tensor whose bytes lie outside the data section.</summary>
    OffsetOutOfRange,
    /// <summary>Two tensors whose byte ranges overlap.</summary>
    OverlappingTensors,
    /// <summary>Bytes between tensors beyond alignment padding (llama.cpp requires the running padded sum).</summary>
    DataHole,
    /// <summary>Bytes after the last tensor's padding.</summary>
    TrailingBytes,
    /// <summary>A required metadata key is absent.</summary>
    MissingKey,
    /// <summary>A metadata key has a value of the wrong type.</summary>
    WrongKeyType,
    /// <summary>A metadata value out of range or inconsistent with another.</summary>
    BadKeyValue,
    /// <summary>general.architecture is not "llama".</summary>
    UnsupportedArchitecture,
    /// <summary>A tensor the config requires is absent.</summary>
    MissingTensor,
    /// <summary>A tensor name that the llama architecture does not use (or a block past block_count).</summary>
    UnexpectedTensor,
    /// <summary>A tensor shape or type that disagrees with the metadata keys.</summary>
    ShapeMismatch,
    /// <summary>Tokenizer arrays of different lengths, bad token types or special ids out of range.</summary>
    BadTokenizer,
    /// <summary>Our mobilellmconvert.* records are malformed or disagree with the tensors.</summary>
    BadSharingRecord,
    /// <summary>Tensors recorded as one shared IR tensor whose bytes differ.</summary>
    SharedTensorMismatch,
    /// <summary>Writer: the IR has no tokenizer, and llama.cpp cannot load a GGUF without one.</summary>
    MissingTokenizer,
}

/// <summary>Bad GGUF input (or an IR the GGUF writer cannot express). The message names file, field and value.</summary>
public sealed class GgufException(GgufError kind, string file, string field, string value, string reason)
    : ModelFormatException<GgufError>(kind, file, field, value, reason)
{
    /// <inheritdoc/>
    public override string Format => "gguf";
}
