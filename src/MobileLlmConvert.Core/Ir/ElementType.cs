namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// Every element type a tensor in the IR can have. Quantized members are block types: values are
/// grouped along the innermost (input) dimension in blocks of <see cref="ElementTypeInfo.BlockValues"/>.
/// The GGUF-compatible members (Q8_0, Q4_0, Q4_1) are the group-32 rows; their byte layouts are ggml's.
/// </summary>
public enum ElementType
{
    F32,
    F16,
    BF16,
    /// <summary>int8 symmetric, group 32: f16 d + 32 x int8 (ggml Q8_0).</summary>
    Q8_0,
    Q8_G64,
    Q8_G128,
    /// <summary>int4 symmetric, group 32: f16 d + 16 bytes of nibbles, x = (q - 8) d (ggml Q4_0).</summary>
    Q4_0,
    Q4_G64,
    Q4_G128,
    /// <summary>int4 asymmetric, group 32: f16 d, f16 m + 16 bytes of nibbles, x = q d + m (ggml Q4_1).</summary>
    Q4_1,
    Q4_1_G64,
    Q4_1_G128,
}

public enum QuantKind
{
    Float,
    Int8Symmetric,
    Int4Symmetric,
    Int4Asymmetric,
}

/// <summary>One row of the element-type table: everything a reader, writer or kernel needs to size data.</summary>
/// <param name="BlockValues">Values per block (1 for float types).</param>
/// <param name="BlockBytes">Bytes per block.</param>
public sealed record ElementTypeInfo(ElementType Type, string Name, QuantKind Kind, int BlockValues, int BlockBytes)
{
    public bool IsQuantized => Kind != QuantKind.Float;
}

/// <summary>
/// The element-type table (DESIGN.md: adding a scheme is one row here and one block struct).
/// Block sizes for the ggml members follow ggml's block_q8_0 / block_q4_0 / block_q4_1 (ggml/src/ggml-common.h).
/// </summary>
public static class ElementTypes
{
    private static readonly ElementTypeInfo[] Table =
    [
        new(ElementType.F32, "f32", QuantKind.Float, 1, 4),
        new(ElementType.F16, "f16", QuantKind.Float, 1, 2),
        new(ElementType.BF16, "bf16", QuantKind.Float, 1, 2),
        new(ElementType.Q8_0, "q8_0", QuantKind.Int8Symmetric, 32, 2 + 32),
        new(ElementType.Q8_G64, "q8_g64", QuantKind.Int8Symmetric, 64, 2 + 64),
        new(ElementType.Q8_G128, "q8_g128", QuantKind.Int8Symmetric, 128, 2 + 128),
        new(ElementType.Q4_0, "q4_0", QuantKind.Int4Symmetric, 32, 2 + 16),
        new(ElementType.Q4_G64, "q4_g64", QuantKind.Int4Symmetric, 64, 2 + 32),
        new(ElementType.Q4_G128, "q4_g128", QuantKind.Int4Symmetric, 128, 2 + 64),
        new(ElementType.Q4_1, "q4_1", QuantKind.Int4Asymmetric, 32, 4 + 16),
        new(ElementType.Q4_1_G64, "q4_1_g64", QuantKind.Int4Asymmetric, 64, 4 + 32),
        new(ElementType.Q4_1_G128, "q4_1_g128", QuantKind.Int4Asymmetric, 128, 4 + 64),
    ];

    static ElementTypes()
    {
        for (int i = 0; i < Table.Length; i++)
        {
            if ((int)Table[i].Type != i) throw new InvalidOperationException("ElementTypes table out of enum order");
        }
    }

    public static IReadOnlyList<ElementTypeInfo> All => Table;

    public static ElementTypeInfo Info(this ElementType type) => Table[(int)type];

    public static bool TryParse(string name, out ElementType type)
    {
        foreach (var row in Table)
        {
            if (string.Equals(row.Name, name, StringComparison.OrdinalIgnoreCase)) { type = row.Type; return true; }
        }
        type = default;
        return false;
    }

    /// <summary>The quantized type of a kind and group size, or null when no row has it.</summary>
    public static ElementType? Find(QuantKind kind, int groupSize)
    {
        foreach (var row in Table)
        {
            if (row.Kind == kind && row.BlockValues == groupSize) return row.Type;
        }
        return null;
    }

    /// <summary>
    /// Bytes needed for a tensor of this shape, or null when the innermost dimension is not a whole
    /// number of blocks. Overflow-checked: shapes come from untrusted files.
    /// </summary>
    public static long? ByteSize(this ElementType type, ReadOnlySpan<long> shape)
    {
        var info = type.Info();
        long elements = Shapes.ElementCount(shape);
        if (shape.Length == 0) return checked(elements * info.BlockBytes);
        long inner = shape[^1];
        if (inner % info.BlockValues != 0) return null;
        return checked(elements / info.BlockValues * info.BlockBytes);
    }
}
