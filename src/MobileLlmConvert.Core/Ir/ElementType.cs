using System.Runtime.CompilerServices;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// Every element type a tensor in the IR can have. Quantized members are block types: values are
/// grouped along the innermost (input) dimension in blocks of <see cref="ElementTypeInfo.BlockValues"/>.
/// The GGUF-compatible members (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K) have ggml's byte layouts.
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
    /// <summary>5-bit symmetric, group 32: f16 d, 4 bytes of fifth bits, 16 bytes of nibbles; x = (q - 16) d (ggml Q5_0).</summary>
    Q5_0,
    /// <summary>5-bit asymmetric, group 32: f16 d, f16 m, 4 bytes of fifth bits, 16 bytes of nibbles; x = q d + m (ggml Q5_1).</summary>
    Q5_1,
    /// <summary>4-bit super-blocks of 256: eight 32-value sub-blocks with 6-bit scales and mins (ggml Q4_K).</summary>
    Q4_K,
    /// <summary>6-bit super-blocks of 256: sixteen 16-value sub-blocks with 8-bit scales (ggml Q6_K).</summary>
    Q6_K,
}

public enum QuantKind
{
    Float,
    Int8Symmetric,
    Int4Symmetric,
    Int4Asymmetric,
    Int5Symmetric,
    Int5Asymmetric,
    /// <summary>ggml's 4-bit K-quant: per 256 values an f16 d and dmin, 6-bit sub-block scales and mins.</summary>
    K4,
    /// <summary>ggml's 6-bit K-quant: per 256 values an f16 d and 8-bit signed sub-block scales.</summary>
    K6,
}

/// <summary>One row of the element-type table: everything a reader, writer or kernel needs to size data.</summary>
/// <param name="BlockValues">Values per block (1 for float types).</param>
/// <param name="BlockBytes">Bytes per block.</param>
/// <param name="Kernel">The quantized type's block arithmetic (its block struct), null for float types.</param>
public sealed record ElementTypeInfo(ElementType Type, string Name, QuantKind Kind, int BlockValues, int BlockBytes, QuantKernel? Kernel = null)
{
    public bool IsQuantized => Kind != QuantKind.Float;

    /// <summary>The block arithmetic of a quantized type; throws for a float type.</summary>
    public QuantKernel RequireKernel() => Kernel ?? throw new ArgumentException($"{Name} is not a quantized type");
}

/// <summary>
/// The element-type table (DESIGN.md: adding a scheme is one row here and one block struct).
/// A quantized row takes its block size and byte count from its block struct (<see cref="IQuantBlock{TSelf}"/>),
/// so the two cannot disagree. The ggml members' structs follow ggml's block_* definitions
/// (ggml/src/ggml-common.h).
/// </summary>
public static class ElementTypes
{
    private static readonly ElementTypeInfo[] Table =
    [
        new(ElementType.F32, "f32", QuantKind.Float, 1, 4),
        new(ElementType.F16, "f16", QuantKind.Float, 1, 2),
        new(ElementType.BF16, "bf16", QuantKind.Float, 1, 2),
        Block<BlockQ8_0>(ElementType.Q8_0, "q8_0", QuantKind.Int8Symmetric),
        Block<BlockQ8_G64>(ElementType.Q8_G64, "q8_g64", QuantKind.Int8Symmetric),
        Block<BlockQ8_G128>(ElementType.Q8_G128, "q8_g128", QuantKind.Int8Symmetric),
        Block<BlockQ4_0>(ElementType.Q4_0, "q4_0", QuantKind.Int4Symmetric),
        Block<BlockQ4_G64>(ElementType.Q4_G64, "q4_g64", QuantKind.Int4Symmetric),
        Block<BlockQ4_G128>(ElementType.Q4_G128, "q4_g128", QuantKind.Int4Symmetric),
        Block<BlockQ4_1>(ElementType.Q4_1, "q4_1", QuantKind.Int4Asymmetric),
        Block<BlockQ4_1_G64>(ElementType.Q4_1_G64, "q4_1_g64", QuantKind.Int4Asymmetric),
        Block<BlockQ4_1_G128>(ElementType.Q4_1_G128, "q4_1_g128", QuantKind.Int4Asymmetric),
        Block<BlockQ5_0>(ElementType.Q5_0, "q5_0", QuantKind.Int5Symmetric),
        Block<BlockQ5_1>(ElementType.Q5_1, "q5_1", QuantKind.Int5Asymmetric),
        Block<BlockQ4_K>(ElementType.Q4_K, "q4_k", QuantKind.K4),
        Block<BlockQ6_K>(ElementType.Q6_K, "q6_k", QuantKind.K6),
    ];

    private static ElementTypeInfo Block<TBlock>(ElementType type, string name, QuantKind kind)
        where TBlock : unmanaged, IQuantBlock<TBlock> =>
        new(type, name, kind, TBlock.BlockValues, Unsafe.SizeOf<TBlock>(), new QuantKernel<TBlock>());

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
