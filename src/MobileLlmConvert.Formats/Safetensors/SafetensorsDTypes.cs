using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Safetensors;

/// <summary>One row per safetensors dtype: its size in bits and the IR element type, when the IR has one.</summary>
internal sealed record SafetensorsDType(string Name, int Bits, ElementType? ElementType);

/// <summary>
/// The dtype table of the safetensors spec (format knowledge as data). Every listed dtype is valid
/// in a file; only F32, F16 and BF16 map to IR element types, the others are reported when a tensor
/// the model needs uses them.
/// </summary>
internal static class SafetensorsDTypes
{
    private static readonly SafetensorsDType[] Table =
    [
        new("F32", 32, Core.Ir.ElementType.F32),
        new("F16", 16, Core.Ir.ElementType.F16),
        new("BF16", 16, Core.Ir.ElementType.BF16),
        new("F64", 64, null),
        new("I64", 64, null),
        new("U64", 64, null),
        new("I32", 32, null),
        new("U32", 32, null),
        new("I16", 16, null),
        new("U16", 16, null),
        new("I8", 8, null),
        new("U8", 8, null),
        new("BOOL", 8, null),
        new("F8_E4M3", 8, null),
        new("F8_E5M2", 8, null),
        new("F8_E8M0", 8, null),
        new("F6_E2M3", 6, null),
        new("F6_E3M2", 6, null),
        new("F4", 4, null),
        new("C64", 64, null),
    ];

    public static IReadOnlyList<SafetensorsDType> All => Table;

    public static SafetensorsDType? Find(string name)
    {
        foreach (var row in Table)
        {
            if (string.Equals(row.Name, name, StringComparison.Ordinal)) return row;
        }
        return null;
    }

    /// <summary>The safetensors name of an IR float type; throws for quantized types, which safetensors cannot hold.</summary>
    public static string NameOf(ElementType type)
    {
        foreach (var row in Table)
        {
            if (row.ElementType == type) return row.Name;
        }
        throw new ArgumentException($"{type.Info().Name} has no safetensors dtype (only f32, f16 and bf16 are written)");
    }
}
