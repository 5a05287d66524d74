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

    /// <summary>Windows a <see cref="SampleHash"/> reads, and the bytes of each.</summary>
    private const int SampleWindows = 4, SampleWindowBytes = 64 << 10;

    /// <summary>
    /// SHA-256 of <see cref="SampleWindows"/> evenly spaced windows of a tensor's bytes (the first and
    /// the last among them), a cheap filter before <see cref="Hash"/>: tensors whose samples differ
    /// differ. <paramref name="whole"/> is true for a tensor no larger than the windows together: its
    /// sample is every byte, and the result its full <see cref="Hash"/>. Which it is depends on the
    /// length only, so tensors of one type and shape are always sampled alike.
    /// </summary>
    public static byte[] SampleHash(Tensor t, out bool whole)
    {
        var source = t.Source;
        long length = source.Length;
        whole = length <= (long)SampleWindows * SampleWindowBytes;
        if (whole) return Hash(t);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (!source.CanCopyRanges || source.TryGetSpan(out _))
        {
            // Mapped or in memory: the windows are read in place (only their pages are touched); a computed
            // source makes its bytes once, as the full hash would.
            var bytes = source.Read();
            for (int w = 0; w < SampleWindows; w++)
                hash.AppendData(bytes.Slice((int)((length - SampleWindowBytes) * w / (SampleWindows - 1)), SampleWindowBytes));
            return hash.GetHashAndReset();
        }
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(SampleWindowBytes);
        try
        {
            for (int w = 0; w < SampleWindows; w++)
            {
                long offset = (length - SampleWindowBytes) * w / (SampleWindows - 1);
                var window = buffer.AsSpan(0, SampleWindowBytes);
                source.CopyRange(offset, window);
                hash.AppendData(window);
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
