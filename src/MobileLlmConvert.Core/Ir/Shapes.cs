namespace MobileLlmConvert.Core.Ir;

internal static class Shapes
{
    /// <summary>Product of the dimensions, overflow-checked; throws OverflowException on overflow or a negative dimension.</summary>
    public static long ElementCount(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new OverflowException("negative dimension");
            n = checked(n * d);
        }
        return n;
    }

    public static string Format(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
