using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Mobile.Proto;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>
/// Constants of the mobile model format (formats/mobile/SPEC.md): the fixed header, alignment,
/// the caps a reader enforces, and the one table mapping the format's type codes to Core types.
/// </summary>
public static class MobileFormat
{
    /// <summary>"\x89MLCM\r\n\x1a": a non-ASCII first byte and CR LF / ^Z catch text-mode transfers (as PNG's magic does).</summary>
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'M', (byte)'L', (byte)'C', (byte)'M', 0x0D, 0x0A, 0x1A];

    /// <summary>The format version this code writes and reads.</summary>
    public const uint Version = 1;

    /// <summary>magic 8 + version 4 + header length 4 + header offset 8 + file length 8 + SHA-256 32.</summary>
    public const int FixedHeaderBytes = 64;

    /// <summary>Every region starts at a multiple of 64: a cache line and a full AVX-512 vector, so mapped weights load aligned.</summary>
    public const int Alignment = 64;

    /// <summary>Length of a SHA-256 digest.</summary>
    public const int Sha256Bytes = 32;

    /// <summary>The file name of the model inside a bundle directory.</summary>
    public const string FileExtension = ".mlcm";

    // Caps (SPEC.md rule 4). Each is far above what a real model needs and small enough that a
    // hostile file cannot make the reader allocate more than the file's own size times a constant.

    /// <summary>The header holds ~120 bytes per tensor and ~20 per step; the vocabulary lives in a section. 16 MiB is ~100x a 1.5B model's header.</summary>
    public const int MaxHeaderBytes = 16 << 20;

    /// <summary>A 54-layer model stores 9 x 54 + 3 = 489 tensors.</summary>
    public const int MaxTensors = 65_536;

    /// <summary>MobileLLM-1.5B-LS executes 108 steps.</summary>
    public const int MaxSteps = 4_096;

    /// <summary>Weights are vectors and matrices; 8 dimensions leave room without letting a shape list grow unbounded.</summary>
    public const int MaxRank = 8;

    /// <summary>Cap on a tensor name's UTF-8 bytes.</summary>
    public const int MaxNameBytes = 1_024;
    /// <summary>Cap on the architecture string's length.</summary>
    public const int MaxArchitectureChars = 256;

    /// <summary>
    /// The sentencepiece parser's own cap (the ModelProto section is the vocabulary's one copy):
    /// Llama 3's 128k and Gemma's 256k vocabularies fit 4 times over.
    /// </summary>
    public const int MaxVocab = SentencePiece.SentencePieceModelFile.MaxPieces;

    /// <summary>Cap on header metadata entries.</summary>
    public const int MaxMetadataEntries = 4_096;
    /// <summary>Cap on a metadata key's UTF-8 bytes.</summary>
    public const int MaxMetadataKeyBytes = 256;
    /// <summary>Cap on a metadata value's UTF-8 bytes.</summary>
    public const int MaxMetadataValueBytes = 65_536;

    /// <summary>
    /// An LZ4 block cannot expand a byte into more than 255 (a match length continuation byte adds
    /// at most 255). A raw_length above stored x 255 is a lie, and rejecting it before allocating
    /// bounds decompression memory by the file's size.
    /// </summary>
    public const long MaxLz4Ratio = 255;

    internal static long Align(long offset) => checked((offset + Alignment - 1) / Alignment * Alignment);

    private static readonly (TensorType Code, ElementType Type)[] TypeTable =
    [
        (TensorType.F32, ElementType.F32),
        (TensorType.F16, ElementType.F16),
        (TensorType.Bf16, ElementType.BF16),
        (TensorType.Q8G32, ElementType.Q8_0),
        (TensorType.Q8G64, ElementType.Q8_G64),
        (TensorType.Q8G128, ElementType.Q8_G128),
        (TensorType.Q4G32, ElementType.Q4_0),
        (TensorType.Q4G64, ElementType.Q4_G64),
        (TensorType.Q4G128, ElementType.Q4_G128),
        (TensorType.Q4AG32, ElementType.Q4_1),
        (TensorType.Q4AG64, ElementType.Q4_1_G64),
        (TensorType.Q4AG128, ElementType.Q4_1_G128),
        (TensorType.Q50, ElementType.Q5_0),
        (TensorType.Q51, ElementType.Q5_1),
        (TensorType.Q4K, ElementType.Q4_K),
        (TensorType.Q6K, ElementType.Q6_K),
    ];

    internal static TensorType ToCode(ElementType type)
    {
        foreach (var (code, t) in TypeTable)
        {
            if (t == type) return code;
        }
        throw new ArgumentException($"element type {type} has no mobile format code");
    }

    internal static bool TryFromCode(TensorType code, out ElementType type)
    {
        foreach (var (c, t) in TypeTable)
        {
            if (c == code) { type = t; return true; }
        }
        type = default;
        return false;
    }

    internal static Family ToProto(ModelFamily family) => family switch
    {
        ModelFamily.Llama => Family.Llama,
        ModelFamily.MobileLLM => Family.Mobilellm,
        ModelFamily.MobiLlama => Family.Mobillama,
        _ => throw new ArgumentException($"model family {family} has no mobile format code"),
    };

    internal static ModelFamily? FromProto(Family family) => family switch
    {
        Family.Llama => ModelFamily.Llama,
        Family.Mobilellm => ModelFamily.MobileLLM,
        Family.Mobillama => ModelFamily.MobiLlama,
        _ => null,
    };
}
