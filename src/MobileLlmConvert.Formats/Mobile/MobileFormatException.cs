using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>One kind per way a mobile model file can be bad (formats/mobile/SPEC.md names the rule each enforces).</summary>
public enum MobileError
{
    /// <summary>Shorter than the fixed header, or shorter than the file length the header declares.</summary>
    Truncated,
    BadMagic,
    UnsupportedVersion,
    /// <summary>Bytes after the declared file length, or between the protobuf header's end and the file's end.</summary>
    TrailingBytes,
    /// <summary>The protobuf header's offset or length points outside the file or before the data sections' end.</summary>
    HeaderOutOfRange,
    HeaderChecksumMismatch,
    HeaderParse,
    /// <summary>A count or size above one of the named caps in <see cref="MobileFormat"/>.</summary>
    OverCap,
    UnknownElementType,
    UnknownCompression,
    /// <summary>Block layout fields disagree with the element type's table row.</summary>
    BlockLayoutMismatch,
    /// <summary>Shape, element type and raw length disagree, or a shape is malformed.</summary>
    ShapeMismatch,
    /// <summary>LZ4 on a section that must stay mappable (quantized blocks).</summary>
    CompressionNotAllowed,
    /// <summary>An uncompressed section whose stored and raw lengths differ, or a length above what a span can address.</summary>
    BadSectionLength,
    OffsetOutOfRange,
    MisalignedOffset,
    OverlappingSections,
    /// <summary>A gap between regions longer than the alignment padding.</summary>
    Hole,
    NonZeroPadding,
    SectionChecksumMismatch,
    /// <summary>An LZ4 section whose decoded length differs from raw_length, or that does not decode.</summary>
    Lz4SizeMismatch,
    PlanIndexOutOfRange,
    DuplicateTensorName,
    BadTensorName,
    BadConfig,
    /// <summary>Config and tensor shapes disagree (Core IrValidator).</summary>
    ConfigShapeMismatch,
    BadTokenizer,
    BadMetadata,
}

/// <summary>A mobile model file that is malformed, inconsistent or hostile.</summary>
public sealed class MobileFormatException(MobileError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<MobileError>(kind, file, field, value, reason, inner)
{
    public override string Format => "mobile";
}
