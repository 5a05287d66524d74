using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>One kind per way a mobile model file can be bad (formats/mobile/SPEC.md names the rule each enforces).</summary>
public enum MobileError
{
    /// <summary>Shorter than the fixed header, or shorter than the file length the header declares.</summary>
    Truncated,
    /// <summary>The first 8 bytes are not the mobile format's magic.</summary>
    BadMagic,
    /// <summary>A format version this reader does not know.</summary>
    UnsupportedVersion,
    /// <summary>Bytes after the declared file length, or between the protobuf header's end and the file's end.</summary>
    TrailingBytes,
    /// <summary>The protobuf header's offset or length points outside the file or before the data sections' end.</summary>
    HeaderOutOfRange,
    /// <summary>The protobuf header's SHA-256 differs from the fixed header's.</summary>
    HeaderChecksumMismatch,
    /// <summary>The protobuf header does not parse.</summary>
    HeaderParse,
    /// <summary>A count or size above one of the named caps in <see cref="MobileFormat"/>.</summary>
    OverCap,
    /// <summary>A tensor element type code this reader does not know.</summary>
    UnknownElementType,
    /// <summary>A compression code this reader does not know.</summary>
    UnknownCompression,
    /// <summary>Block layout fields disagree with the element type's table row.</summary>
    BlockLayoutMismatch,
    /// <summary>Shape, element type and raw length disagree, or a shape is malformed.</summary>
    ShapeMismatch,
    /// <summary>LZ4 on a section that must stay mappable (quantized blocks).</summary>
    CompressionNotAllowed,
    /// <summary>An uncompressed section whose stored and raw lengths differ, or a length above what a span can address.</summary>
    BadSectionLength,
    /// <summary>A section offset outside the data region.</summary>
    OffsetOutOfRange,
    /// <summary>A section offset that is not a multiple of the alignment.</summary>
    MisalignedOffset,
    /// <summary>Two sections share bytes.</summary>
    OverlappingSections,
    /// <summary>A gap between regions longer than the alignment padding.</summary>
    Hole,
    /// <summary>Padding between regions that is not zero.</summary>
    NonZeroPadding,
    /// <summary>A section's SHA-256 differs from the header's.</summary>
    SectionChecksumMismatch,
    /// <summary>An LZ4 section whose decoded length differs from raw_length, or that does not decode.</summary>
    Lz4SizeMismatch,
    /// <summary>The execution plan names a tensor index that does not exist.</summary>
    PlanIndexOutOfRange,
    /// <summary>Two tensors with the same name.</summary>
    DuplicateTensorName,
    /// <summary>A tensor name that is empty, too long or not valid UTF-8.</summary>
    BadTensorName,
    /// <summary>The model configuration is inconsistent.</summary>
    BadConfig,
    /// <summary>Config and tensor shapes disagree (Core IrValidator).</summary>
    ConfigShapeMismatch,
    /// <summary>The tokenizer section is malformed or disagrees with the config.</summary>
    BadTokenizer,
    /// <summary>A metadata entry is malformed or over its cap.</summary>
    BadMetadata,
}

/// <summary>A mobile model file that is malformed, inconsistent or hostile.</summary>
public sealed class MobileFormatException(MobileError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<MobileError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "mobile";
}
