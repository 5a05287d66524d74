using System.Security.Cryptography;
using Google.Protobuf;
using K4os.Compression.LZ4;
using MobileLlmConvert.Formats.Mobile.Proto;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>Whether the writer may compress sections.</summary>
public enum MobileCompressionMode
{
    /// <summary>LZ4 on float tensors and tokenizer sections where it pays (SPEC.md rule 11); quantized blocks always raw.</summary>
    Auto,
    /// <summary>Every section raw and mappable.</summary>
    None,
}

/// <summary>
/// Writes sections at 64-aligned offsets and decides LZ4 per section. Checksums are SHA-256, not
/// XXH64: K4os.Hash.xxHash is not a dependency of the LZ4 package we reference (only of its Streams
/// package), SHA-256 is in the BCL, runs at ~2 GB/s on SHA-NI hardware (the reader's cost is the
/// page-in, not the hash), and it is the same hash the bundle manifest uses, so one tool checks both.
/// </summary>
internal sealed class SectionWriter(Stream output, long start)
{
    /// <summary>
    /// LZ4 "pays" when it saves at least 1/8 of the raw bytes and at least 4 KiB: below that the
    /// section loses mappability (it must be decoded into owned memory) for too little gain.
    /// </summary>
    public const int MinSavedBytes = 4096;

    /// <summary>LZ4's own block-size limit (LZ4_MAX_INPUT_SIZE); larger sections are written raw.</summary>
    public const int MaxLz4InputBytes = 0x7E000000;

    private static readonly byte[] Zeros = new byte[MobileFormat.Alignment];
    private byte[] _lz4 = [];

    /// <summary>Bytes written so far, relative to the start of the file.</summary>
    public long Position { get; private set; }

    public static bool Pays(long rawLength, long storedLength) =>
        storedLength <= rawLength - Math.Max(rawLength / 8, MinSavedBytes);

    public void Write(ReadOnlySpan<byte> bytes)
    {
        output.Write(bytes);
        Position += bytes.Length;
    }

    public void PadToAlignment()
    {
        int pad = checked((int)(MobileFormat.Align(Position) - Position));
        Write(Zeros.AsSpan(0, pad));
    }

    /// <summary>Writes one section at the next aligned offset, compressed only if allowed and it pays.</summary>
    public Section WriteSection(ReadOnlySpan<byte> raw, LZ4Level? lz4Level)
    {
        PadToAlignment();
        long offset = Position;
        var stored = raw;
        var compression = Compression.None;
        if (lz4Level is { } level && raw.Length > MinSavedBytes && raw.Length <= MaxLz4InputBytes)
        {
            int max = LZ4Codec.MaximumOutputSize(raw.Length);
            if (_lz4.Length < max) _lz4 = GC.AllocateUninitializedArray<byte>(max);
            int n = LZ4Codec.Encode(raw, _lz4, level);
            if (n > 0 && Pays(raw.Length, n))
            {
                stored = _lz4.AsSpan(0, n);
                compression = Compression.Lz4;
            }
        }
        var hash = SHA256.HashData(stored);
        Write(stored);
        return new Section
        {
            Offset = (ulong)offset,
            StoredLength = (ulong)stored.Length,
            RawLength = (ulong)raw.Length,
            Compression = compression,
            Sha256 = ByteString.CopyFrom(hash),
        };
    }

    /// <summary>Writes the 64-byte fixed header at the start of the file, then returns to the end.</summary>
    public void WriteFixedHeader(long headerOffset, ReadOnlySpan<byte> header)
    {
        Span<byte> fixedHeader = stackalloc byte[MobileFormat.FixedHeaderBytes];
        FixedHeader.Encode(fixedHeader, (uint)header.Length, headerOffset, Position, SHA256.HashData(header));
        long end = output.Position;
        output.Position = start;
        output.Write(fixedHeader);
        output.Position = end;
    }
}
