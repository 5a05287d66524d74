using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>One kind per rule the ONNX reader enforces (formats/onnx.md, "Reading", lists each with its rule).</summary>
public enum OnnxError
{
    /// <summary>model.onnx is larger than the cap for a graph without weights.</summary>
    TooLarge,
    /// <summary>The bytes are not a well-formed ModelProto (truncated, bad wire type, nested too deeply).</summary>
    Malformed,
    /// <summary>A ModelProto feature mlconvert never writes: functions, training info, sparse initializers, subgraphs, an IR version or opset outside the supported range.</summary>
    Unsupported,
    /// <summary>More initializers, nodes, metadata entries or opset imports than the caps allow.</summary>
    TooMany,
    /// <summary>An empty or over-long name (initializer, node, value, metadata key).</summary>
    BadName,
    /// <summary>An initializer name that appears twice.</summary>
    DuplicateInitializer,
    /// <summary>A metadata key that appears twice.</summary>
    DuplicateMetadata,
    /// <summary>More dimensions than the cap, a negative dimension, or an element count that overflows.</summary>
    BadDims,
    /// <summary>A tensor data type mlconvert does not write.</summary>
    BadDataType,
    /// <summary>Inline or external bytes whose length is not dims x the type's size.</summary>
    BadDataLength,
    /// <summary>Typed value fields (float_data, int32_data, ...) or both raw_data and external data: mlconvert writes raw bytes only.</summary>
    TypedData,
    /// <summary>An external_data entry with an unknown or repeated key, or an offset/length that is not a non-negative decimal.</summary>
    BadExternalData,
    /// <summary>An external data location that is not a plain file name inside the model's folder (absolute, `..`, a directory part, control characters).</summary>
    BadLocation,
    /// <summary>An external data location that is a symlink leading out of the model's folder, or no regular file.</summary>
    LocationOutsideFolder,
    /// <summary>External data that lies past the end of its file.</summary>
    OffsetOutOfRange,
    /// <summary>An external data offset that is not a multiple of the 64-byte alignment mlconvert writes.</summary>
    MisalignedOffset,
    /// <summary>Two initializers whose external bytes overlap.</summary>
    OverlappingData,
    /// <summary>Bytes in a data file that belong to no initializer beyond zero alignment padding (holes, trailing bytes).</summary>
    UnclaimedBytes,
    /// <summary>A required mlconvert.* metadata entry is absent.</summary>
    MissingMetadata,
    /// <summary>A metadata value that does not parse or disagrees with the initializers (e.g. a step naming a block past the stored ones).</summary>
    BadMetadata,
    /// <summary>An initializer the recorded model needs is absent.</summary>
    MissingInitializer,
    /// <summary>An initializer the recorded model does not use.</summary>
    UnexpectedInitializer,
    /// <summary>An initializer whose shape, type or constant bytes differ from what the recorded model implies.</summary>
    InitializerMismatch,
    /// <summary>The graph differs from the one mlconvert writes for the recorded model (nodes, inputs, outputs).</summary>
    NotOurGraph,
    /// <summary>tokenizer.json is absent or disagrees with the recorded config.</summary>
    BadTokenizer,
}

/// <summary>Bad ONNX input: a model.onnx, its data file or folder that is malformed, hostile, or not a model mlconvert writes. The message names file, field and value.</summary>
public sealed class OnnxException(OnnxError kind, string file, string field, string value, string reason)
    : ModelFormatException<OnnxError>(kind, file, field, value, reason)
{
    /// <inheritdoc/>
    public override string Format => "onnx";
}
