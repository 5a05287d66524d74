using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.Mobile.Proto;
using static MobileLlmConvert.Tests.Mobile.MobileTestModels;

namespace MobileLlmConvert.Tests.Mobile;

/// <summary>Builds hostile variants of one small valid mobile file.</summary>
internal static class HostileFiles
{
    /// <summary>
    /// One layer, vocabulary 2048 (its section is LZ4), Q4_0 matrices and f16 norms. Tensors:
    /// 0 embed, 1 input_layernorm, 2 q, 3 k, 4 v, 5 o, 6 post_attention_layernorm, 7 gate, 8 up, 9 down, 10 norm, 11 lm_head.
    /// </summary>
    public static readonly Lazy<byte[]> Valid = new(() =>
        WriteBytes(Quantize(SyntheticModel.Create(LlamaGqa with { StoredLayers = 1, VocabSize = 2048, DType = ElementType.F16 }, TensorNames.HuggingFace), ElementType.Q4_0)));

    /// <summary>The tokenizer of <see cref="Valid"/> (the synthetic vocabulary of 2048).</summary>
    public static TokenizerIr ValidTokenizer => SyntheticVocab.Create(2048);

    /// <summary>
    /// <see cref="Valid"/> with its sentencepiece model section (the last section) replaced by
    /// <paramref name="model"/>, stored raw and correctly signed, then the header edited; the layout stays canonical.
    /// </summary>
    public static byte[] WithTokenizerModel(byte[] model, Action<MobileHeader>? edit = null)
    {
        var header = Header(Valid.Value);
        var s = header.Tokenizer.SentencepieceModel;
        if (header.Tokenizer.TokenizerConfig is not null) throw new InvalidOperationException("the fixture's model section must be the last section");
        s.StoredLength = s.RawLength = (ulong)model.Length;
        s.Compression = Compression.None;
        s.Sha256 = ByteString.CopyFrom(SHA256.HashData(model));
        edit?.Invoke(header);
        long headerOffset = (long)(s.Offset + (ulong)model.Length + 63) / 64 * 64;
        var headerBytes = header.ToByteArray();
        var result = new byte[headerOffset + headerBytes.Length];
        Valid.Value.AsSpan(0, (int)s.Offset).CopyTo(result);
        model.CopyTo(result.AsSpan((int)s.Offset));
        headerBytes.CopyTo(result.AsSpan((int)headerOffset));
        FixedHeader.Encode(result, (uint)headerBytes.Length, headerOffset, result.Length, SHA256.HashData(headerBytes));
        return result;
    }

    public static byte[] Copy() => (byte[])Valid.Value.Clone();

    public static long HeaderOffset(byte[] file) => BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(16));

    public static MobileHeader Header(byte[] file)
    {
        long offset = HeaderOffset(file);
        return MobileHeader.Parser.ParseFrom(file.AsSpan((int)offset));
    }

    /// <summary>The file with its protobuf header edited and re-signed (header SHA-256, lengths), so only the edit is wrong.</summary>
    public static byte[] WithHeader(Action<MobileHeader> edit, byte[]? file = null)
    {
        file ??= Valid.Value;
        var header = Header(file);
        edit(header);
        return WithHeaderBytes(header.ToByteArray(), file);
    }

    /// <summary>The data sections of <paramref name="file"/> followed by <paramref name="header"/> at <paramref name="headerOffset"/> (default: where it was).</summary>
    public static byte[] WithHeaderBytes(byte[] header, byte[]? file = null, long? headerOffset = null)
    {
        file ??= Valid.Value;
        long oldOffset = HeaderOffset(file);
        long offset = headerOffset ?? oldOffset;
        var result = new byte[offset + header.Length];
        file.AsSpan(0, (int)Math.Min(oldOffset, offset)).CopyTo(result);
        header.CopyTo(result.AsSpan((int)offset));
        FixedHeader.Encode(result, (uint)header.Length, offset, result.Length, SHA256.HashData(header));
        return result;
    }

    /// <summary>Re-signs one section after its stored bytes were edited in place.</summary>
    public static byte[] Resign(byte[] file, Func<MobileHeader, Section> section) =>
        WithHeader(h =>
        {
            var s = section(h);
            s.Sha256 = ByteString.CopyFrom(SHA256.HashData(file.AsSpan((int)s.Offset, (int)s.StoredLength)));
        }, file);
}
