using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Safetensors;

/// <summary>One kind per rule of formats/safetensors.md (each MUST of the safetensors spec has its own).</summary>
public enum SafetensorsError
{
    /// <summary>Fewer than the 8 bytes of the header-length prefix.</summary>
    FileTooShort,
    /// <summary>Header length above <see cref="SafetensorsFile.MaxHeaderBytes"/>.</summary>
    HeaderTooLarge,
    /// <summary>Header length runs past the end of the file.</summary>
    HeaderPastEnd,
    /// <summary>The header is not valid UTF-8.</summary>
    InvalidUtf8,
    /// <summary>The header is not valid JSON.</summary>
    InvalidJson,
    /// <summary>The header's top-level JSON value is not an object.</summary>
    HeaderNotObject,
    /// <summary>A tensor name (or a key inside an entry) appears twice.</summary>
    DuplicateName,
    /// <summary>An entry is not an object, lacks dtype/shape/data_offsets, has a wrong JSON type or an unknown key.</summary>
    BadEntry,
    /// <summary>A dtype string the spec does not define (or this reader does not support).</summary>
    UnknownDType,
    /// <summary>A dimension is negative, not an integer, or the element count overflows.</summary>
    BadShape,
    /// <summary>Offsets are not two integers with 0 &lt;= begin &lt;= end.</summary>
    BadOffsets,
    /// <summary>shape x element size != end - begin.</summary>
    SizeMismatch,
    /// <summary>The first tensor does not start at 0, or a gap lies between two tensors.</summary>
    DataHole,
    /// <summary>Two tensors share bytes.</summary>
    DataOverlap,
    /// <summary>A tensor ends past the end of the file.</summary>
    OffsetsPastEnd,
    /// <summary>Bytes after the last tensor.</summary>
    TrailingBytes,
    /// <summary>__metadata__ is not an object of string values.</summary>
    BadMetadata,
    /// <summary>A valid dtype the IR cannot carry (e.g. I64), reported only when a needed tensor has it.</summary>
    UnsupportedDType,
    /// <summary>A single tensor above Array.MaxLength bytes: IR tensors are addressed with spans.</summary>
    TensorTooLarge,
    /// <summary>The name asked for is not in the file.</summary>
    NoSuchTensor,
}

/// <summary>A safetensors file that breaks the format's rules; names the file, the field and the value.</summary>
public sealed class SafetensorsException(SafetensorsError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<SafetensorsError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "safetensors";
}
