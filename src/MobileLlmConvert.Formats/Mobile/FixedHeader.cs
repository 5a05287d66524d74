using System.Buffers.Binary;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>
/// The 64-byte fixed header at offset 0 (SPEC.md, "Layout"), all integers little-endian:
/// magic[8], u32 version, u32 header_length, u64 header_offset, u64 file_length, SHA-256[32] of the
/// protobuf header.
/// </summary>
internal readonly record struct FixedHeader(uint Version, uint HeaderLength, ulong HeaderOffset, ulong FileLength, byte[] HeaderSha256)
{
    public static void Encode(Span<byte> dst, uint headerLength, long headerOffset, long fileLength, ReadOnlySpan<byte> sha256)
    {
        MobileFormat.Magic.CopyTo(dst);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[8..], MobileFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[12..], headerLength);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], (ulong)headerOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[24..], (ulong)fileLength);
        sha256.CopyTo(dst[32..]);
    }

    /// <summary>Decodes the fields; the caller has checked the magic and that 64 bytes exist.</summary>
    public static FixedHeader Decode(ReadOnlySpan<byte> src) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(src[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(src[12..]),
        BinaryPrimitives.ReadUInt64LittleEndian(src[16..]),
        BinaryPrimitives.ReadUInt64LittleEndian(src[24..]),
        src.Slice(32, MobileFormat.Sha256Bytes).ToArray());
}
