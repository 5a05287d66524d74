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

    /// <summary>SHA-256 of a tensor's bytes from one read (zero-copy for mapped and in-memory sources).</summary>
    public static byte[] Hash(Tensor t)
    {
        var hash = new byte[HashBytes];
        SHA256.HashData(t.Source.Read(), hash);
        return hash;
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
