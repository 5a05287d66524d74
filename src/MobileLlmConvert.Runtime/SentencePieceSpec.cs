using Google.Protobuf;

namespace MobileLlmConvert.Runtime;

/// <summary>sentencepiece's TrainerSpec.ModelType values (src/sentencepiece_model.proto).</summary>
internal enum SentencePieceModelType
{
    Unigram = 1,
    Bpe = 2,
    Word = 3,
    Char = 4,
}

/// <summary>
/// The ModelProto fields that change how text is encoded and decoded, read straight from the wire
/// (Runtime does not reference Formats, where the generated proto classes live; field numbers and
/// proto2 defaults as in google/sentencepiece src/sentencepiece_model.proto). The file was already
/// validated by Formats.SentencePiece.SentencePieceModelFile.Read; this reader only needs to be safe.
/// </summary>
internal sealed record SentencePieceSpec(
    SentencePieceModelType ModelType,
    bool ByteFallback,
    bool TreatWhitespaceAsSuffix,
    string UnkSurface,
    string NormalizerName,
    byte[] PrecompiledCharsMap,
    bool AddDummyPrefix,
    bool RemoveExtraWhitespaces,
    bool EscapeWhitespaces,
    bool HasDenormalizerRules)
{
    /// <summary>sentencepiece_processor.cc kDefaultUnknownSymbol: what decoding prints for &lt;unk&gt;.</summary>
    public const string DefaultUnkSurface = " \u2047 ";

    private const int TrainerSpecField = 2, NormalizerSpecField = 3, DenormalizerSpecField = 5;

    public static SentencePieceSpec Parse(byte[] modelProto)
    {
        var spec = new SentencePieceSpec(SentencePieceModelType.Unigram, false, false, DefaultUnkSurface,
            "", [], AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true, HasDenormalizerRules: false);
        var input = new CodedInputStream(modelProto);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case TrainerSpecField when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    spec = ReadTrainer(new CodedInputStream(input.ReadBytes().ToByteArray()), spec);
                    break;
                case NormalizerSpecField when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    spec = ReadNormalizer(new CodedInputStream(input.ReadBytes().ToByteArray()), spec);
                    break;
                case DenormalizerSpecField when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    spec = spec with { HasDenormalizerRules = spec.HasDenormalizerRules || HasCharsMap(input.ReadBytes().ToByteArray()) };
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }
        return spec;
    }

    private static SentencePieceSpec ReadTrainer(CodedInputStream input, SentencePieceSpec spec)
    {
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (tag)
            {
                case (3 << 3) | 0: spec = spec with { ModelType = (SentencePieceModelType)input.ReadEnum() }; break;
                case (24 << 3) | 0: spec = spec with { TreatWhitespaceAsSuffix = input.ReadBool() }; break;
                case (35 << 3) | 0: spec = spec with { ByteFallback = input.ReadBool() }; break;
                case (44 << 3) | 2: spec = spec with { UnkSurface = input.ReadString() }; break;
                default: input.SkipLastField(); break;
            }
        }
        return spec;
    }

    private static SentencePieceSpec ReadNormalizer(CodedInputStream input, SentencePieceSpec spec)
    {
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (tag)
            {
                case (1 << 3) | 2: spec = spec with { NormalizerName = input.ReadString() }; break;
                case (2 << 3) | 2: spec = spec with { PrecompiledCharsMap = input.ReadBytes().ToByteArray() }; break;
                case (3 << 3) | 0: spec = spec with { AddDummyPrefix = input.ReadBool() }; break;
                case (4 << 3) | 0: spec = spec with { RemoveExtraWhitespaces = input.ReadBool() }; break;
                case (5 << 3) | 0: spec = spec with { EscapeWhitespaces = input.ReadBool() }; break;
                default: input.SkipLastField(); break;
            }
        }
        return spec;
    }

    private static bool HasCharsMap(byte[] normalizerSpec)
    {
        var input = new CodedInputStream(normalizerSpec);
        uint tag;
        bool found = false;
        while ((tag = input.ReadTag()) != 0)
        {
            if (tag == ((2 << 3) | 2)) found = input.ReadBytes().Length > 0;
            else input.SkipLastField();
        }
        return found;
    }
}
