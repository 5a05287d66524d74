using System.Security.Cryptography;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>
/// Byte-level identity of tensors, the only evidence the sharing passes accept (DESIGN.md: a pass
/// detects rather than assumes). Two tensors are the same weight when element type, shape and every
/// byte agree; a name or a config flag never decides it.
/// </summary>
internal static class TensorBytes
{
    public const int HashBytes = 32; // SHA-256

    public static bool SameLayout(Tensor a, Tensor b) =>
        a.Type == b.Type && a.Shape.AsSpan().SequenceEqual(b.Shape) && a.ByteLength == b.ByteLength;

    /// <summary>Bytes read per step when a tensor is hashed through a buffer.</summary>
    private const int HashChunkBytes = 1 << 20;

    /// <summary>
    /// SHA-256 of a tensor's bytes from one read: zero-copy for mapped and in-memory sources, through
    /// one small buffer for file slices read with pread (no copy of the whole tensor), whole otherwise.
    /// </summary>
    public static byte[] Hash(Tensor t)
    {
        var source = t.Source;
        if (!source.CanCopyRanges || source.TryGetSpan(out _)) return SHA256.HashData(source.Read());
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(HashChunkBytes);
        try
        {
            for (long offset = 0; offset < source.Length; offset += HashChunkBytes)
            {
                var chunk = buffer.AsSpan(0, (int)Math.Min(HashChunkBytes, source.Length - offset));
                source.CopyRange(offset, chunk);
                hash.AppendData(chunk);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        return hash.GetHashAndReset();
    }

    /// <summary>Offset of the first differing byte, or -1 when the spans are equal.</summary>
    public static long FirstDifference(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int common = a.CommonPrefixLength(b);
        return common == a.Length && a.Length == b.Length ? -1 : common;
    }

    /// <summary>Formats a byte/parameter count with thousands separators (invariant culture).</summary>
    public static string Count(long n) => n.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
}
