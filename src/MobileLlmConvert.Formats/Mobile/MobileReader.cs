using System.Security.Cryptography;
using Google.Protobuf;
using K4os.Compression.LZ4;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Mobile.Proto;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>One section as validated from the header: where it is, how long, and how it is stored.</summary>
internal sealed record SectionRef(string Name, long Offset, long StoredLength, long RawLength, bool Lz4, byte[] Sha256);

/// <summary>
/// The hostile-input parser of formats/mobile/SPEC.md. This half reads the fixed header, the
/// protobuf header and the layout of sections; <c>MobileReader.Decode.cs</c> turns the header into
/// an IR. Every check runs before any allocation sized by the file, with checked arithmetic; each
/// failure is one <see cref="MobileError"/> naming the file, the field and the value.
/// </summary>
internal sealed partial class MobileReader(FileBytes bytes, string file, bool verifyChecksums)
{
    private readonly List<SectionRef> _sections = [];

    public MobileModel Read(ResourceBag resources)
    {
        var (headerOffset, header) = ReadHeader();
        if (header.Config is null) throw Error(MobileError.HeaderParse, "config", "(absent)", "the header has no config");
        if (header.Plan is null) throw Error(MobileError.HeaderParse, "plan", "(absent)", "the header has no execution plan");
        Cap("tensors", header.Tensors.Count, MobileFormat.MaxTensors, nameof(MobileFormat.MaxTensors));
        Cap("plan.steps", header.Plan.Steps.Count, MobileFormat.MaxSteps, nameof(MobileFormat.MaxSteps));
        Cap("metadata", header.Metadata.Count, MobileFormat.MaxMetadataEntries, nameof(MobileFormat.MaxMetadataEntries));

        var config = DecodeConfig(header.Config);
        var entries = DecodeTensorEntries(header.Tensors);
        var tokenizerSections = DecodeTokenizerSections(header.Tokenizer);
        CheckLayout(headerOffset);
        if (verifyChecksums) VerifyChecksums();

        var tensors = new List<Tensor>(entries.Count);
        foreach (var (name, shape, type, section) in entries) tensors.Add(new Tensor(name, shape, type, Load(section)));
        var tokenizer = header.Tokenizer is { } tok ? DecodeTokenizer(tok, tokenizerSections) : null;
        var metadata = DecodeMetadata(header.Metadata);
        var ir = BuildIr(config, tensors, header.Plan, tokenizer, resources);
        var sections = _sections.Select(s => new MobileSectionInfo(s.Name, s.Offset, s.StoredLength, s.RawLength, s.Lz4)).ToList();
        return new MobileModel(ir, metadata, sections, bytes.Length);
    }

    private (long HeaderOffset, MobileHeader Header) ReadHeader()
    {
        long length = bytes.Length;
        if (length < MobileFormat.FixedHeaderBytes)
            throw Error(MobileError.Truncated, "file length", length.ToString(), $"shorter than the {MobileFormat.FixedHeaderBytes}-byte fixed header");
        var fixedBytes = bytes.Span(0, MobileFormat.FixedHeaderBytes);
        if (!fixedBytes[..8].SequenceEqual(MobileFormat.Magic))
            throw Error(MobileError.BadMagic, "magic", Convert.ToHexString(fixedBytes[..8]), $"expected {Convert.ToHexString(MobileFormat.Magic)} (\\x89MLCM\\r\\n\\x1a)");
        var fh = FixedHeader.Decode(fixedBytes);
        if (fh.Version != MobileFormat.Version)
            throw Error(MobileError.UnsupportedVersion, "version", fh.Version.ToString(), $"this reader supports version {MobileFormat.Version}");
        if (fh.FileLength > (ulong)length)
            throw Error(MobileError.Truncated, "file length", length.ToString(), $"the header declares {fh.FileLength} bytes");
        if (fh.FileLength < (ulong)length)
            throw Error(MobileError.TrailingBytes, "file length", length.ToString(), $"the header declares {fh.FileLength} bytes; {length - (long)fh.FileLength} trailing bytes");
        if (fh.HeaderLength > MobileFormat.MaxHeaderBytes)
            throw Error(MobileError.OverCap, "header_length", fh.HeaderLength.ToString(), $"above the cap of {MobileFormat.MaxHeaderBytes} bytes ({nameof(MobileFormat.MaxHeaderBytes)})");
        if (fh.HeaderOffset < MobileFormat.FixedHeaderBytes || fh.HeaderOffset > (ulong)length || fh.HeaderLength > (ulong)length - fh.HeaderOffset)
            throw Error(MobileError.HeaderOutOfRange, "header_offset + header_length", $"{fh.HeaderOffset}+{fh.HeaderLength}", $"outside the {length}-byte file (the header starts at or after byte {MobileFormat.FixedHeaderBytes} and ends by the file's end)");
        long headerOffset = (long)fh.HeaderOffset;
        if (headerOffset % MobileFormat.Alignment != 0)
            throw Error(MobileError.MisalignedOffset, "header_offset", headerOffset.ToString(), $"not a multiple of {MobileFormat.Alignment}");
        long headerEnd = headerOffset + fh.HeaderLength;
        if (headerEnd != length)
            throw Error(MobileError.TrailingBytes, "header_offset + header_length", headerEnd.ToString(), $"the protobuf header must end the file; {length - headerEnd} bytes follow it");

        var headerBytes = bytes.Span(headerOffset, fh.HeaderLength);
        var actual = SHA256.HashData(headerBytes);
        if (!actual.AsSpan().SequenceEqual(fh.HeaderSha256))
            throw Error(MobileError.HeaderChecksumMismatch, "header_sha256", Convert.ToHexStringLower(fh.HeaderSha256), $"the header's SHA-256 is {Convert.ToHexStringLower(actual)}");
        try
        {
            return (headerOffset, MobileHeader.Parser.ParseFrom(headerBytes));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw Error(MobileError.HeaderParse, "header", $"{fh.HeaderLength} bytes", $"not a valid MobileHeader protobuf message ({e.Message})", e);
        }
    }

    /// <summary>Checks one section's own fields (SPEC.md rules 9-11) and records it; layout comes later.</summary>
    private SectionRef DecodeSection(Section? s, string name, bool mayCompress)
    {
        if (s is null) throw Error(MobileError.HeaderParse, name, "(absent)", "the section has no data descriptor");
        if (s.Compression is not (Compression.None or Compression.Lz4))
            throw Error(MobileError.UnknownCompression, name + ".compression", ((int)s.Compression).ToString(), "expected 0 (NONE) or 1 (LZ4)");
        if (s.Offset > long.MaxValue) throw Error(MobileError.OffsetOutOfRange, name + ".offset", s.Offset.ToString(), $"past the end of the {bytes.Length}-byte file");
        if (s.RawLength > (ulong)Array.MaxLength || s.StoredLength > (ulong)Array.MaxLength)
            throw Error(MobileError.BadSectionLength, name + ".raw_length", $"{s.RawLength} (stored {s.StoredLength})", $"a section is at most {Array.MaxLength} bytes (one span)");
        if (s.Sha256.Length != MobileFormat.Sha256Bytes)
            throw Error(MobileError.HeaderParse, name + ".sha256", $"{s.Sha256.Length} bytes", $"a SHA-256 is {MobileFormat.Sha256Bytes} bytes");
        bool lz4 = s.Compression == Compression.Lz4;
        long stored = (long)s.StoredLength, raw = (long)s.RawLength;
        if (!lz4 && stored != raw)
            throw Error(MobileError.BadSectionLength, name + ".stored_length", stored.ToString(), $"an uncompressed section stores raw_length ({raw}) bytes");
        if (lz4 && !mayCompress)
            throw Error(MobileError.CompressionNotAllowed, name + ".compression", "LZ4", "quantized blocks must stay raw so they can be used in place from the mapped file");
        if (lz4 && (stored == 0 || raw > stored * MobileFormat.MaxLz4Ratio))
            throw Error(MobileError.Lz4SizeMismatch, name + ".raw_length", raw.ToString(), $"{stored} LZ4 bytes decode to at most {stored * MobileFormat.MaxLz4Ratio} bytes");
        var section = new SectionRef(name, (long)s.Offset, stored, raw, lz4, s.Sha256.ToByteArray());
        _sections.Add(section);
        return section;
    }

    /// <summary>
    /// SPEC.md rules 6-8: regions follow each other in header order, each at the first multiple of
    /// 64 at or after the previous one's end, zero-filled between, and the protobuf header last.
    /// </summary>
    private void CheckLayout(long headerOffset)
    {
        long length = bytes.Length;
        long prevEnd = MobileFormat.FixedHeaderBytes;
        string prevName = "the fixed header";
        foreach (var s in _sections)
        {
            if (s.Offset > length || s.StoredLength > length - s.Offset)
                throw Error(MobileError.OffsetOutOfRange, s.Name + ".offset", $"{s.Offset}+{s.StoredLength}", $"past the end of the {length}-byte file");
            if (s.Offset % MobileFormat.Alignment != 0)
                throw Error(MobileError.MisalignedOffset, s.Name + ".offset", s.Offset.ToString(), $"not a multiple of {MobileFormat.Alignment}");
            if (s.Offset < prevEnd)
                throw Error(MobileError.OverlappingSections, s.Name + ".offset", s.Offset.ToString(), $"starts inside {prevName}, which ends at {prevEnd}");
            long expected = MobileFormat.Align(prevEnd);
            if (s.Offset > expected)
                throw Error(MobileError.Hole, s.Name + ".offset", s.Offset.ToString(), $"leaves a gap after {prevName}: it must start at {expected}");
            if (s.Offset + s.StoredLength > headerOffset)
                throw Error(MobileError.OverlappingSections, s.Name + ".stored_length", s.StoredLength.ToString(), $"runs into the protobuf header at {headerOffset}");
            CheckPadding(prevEnd, s.Offset, s.Name);
            prevEnd = s.Offset + s.StoredLength;
            prevName = s.Name;
        }
        if (headerOffset > MobileFormat.Align(prevEnd))
            throw Error(MobileError.Hole, "header_offset", headerOffset.ToString(), $"leaves a gap after {prevName}: the header must start at {MobileFormat.Align(prevEnd)}");
        CheckPadding(prevEnd, headerOffset, "the protobuf header");
    }

    private void CheckPadding(long from, long to, string before)
    {
        if (bytes.Span(from, to - from).ContainsAnyExcept((byte)0))
            throw Error(MobileError.NonZeroPadding, "padding before " + before, $"bytes {from}..{to}", "alignment padding must be zero");
    }

    private void VerifyChecksums()
    {
        foreach (var s in _sections)
        {
            var actual = SHA256.HashData(bytes.Span(s.Offset, s.StoredLength));
            if (!actual.AsSpan().SequenceEqual(s.Sha256))
                throw Error(MobileError.SectionChecksumMismatch, s.Name + ".sha256", Convert.ToHexStringLower(s.Sha256), $"the stored bytes hash to {Convert.ToHexStringLower(actual)}");
        }
    }

    /// <summary>A raw section is a zero-copy slice of the file; an LZ4 section is decoded once into owned memory.</summary>
    private TensorSource Load(SectionRef s)
    {
        if (!s.Lz4) return bytes.Slice(s.Offset, s.StoredLength);
        return new MemorySource(Decompress(s));
    }

    private byte[] Decompress(SectionRef s)
    {
        // raw_length was bounded by stored_length x 255 before we got here: no allocation bomb.
        var raw = GC.AllocateUninitializedArray<byte>(checked((int)s.RawLength));
        int n = LZ4Codec.Decode(bytes.Span(s.Offset, s.StoredLength), raw);
        if (n < 0)
            throw Error(MobileError.Lz4SizeMismatch, s.Name + ".raw_length", s.RawLength.ToString(), "the LZ4 block does not decode into raw_length bytes (corrupt, or it decodes to more)");
        if (n != s.RawLength)
            throw Error(MobileError.Lz4SizeMismatch, s.Name + ".raw_length", s.RawLength.ToString(), $"the LZ4 block decodes to {n} bytes");
        return raw;
    }

    private void Cap(string field, long value, long cap, string capName)
    {
        if (value > cap) throw Error(MobileError.OverCap, field, value.ToString(), $"above the cap of {cap} ({capName})");
    }

    private MobileFormatException Error(MobileError kind, string field, string value, string reason, Exception? inner = null) =>
        new(kind, file, field, value, reason, inner);
}
