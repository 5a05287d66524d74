using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Quant;

// One block struct per quantized row of the element-type table (DESIGN.md: a scheme is one table row
// and one struct with a size assertion). The group-32 members are ggml's block_q8_0, block_q4_0 and
// block_q4_1 (ggml/src/ggml-common.h): f16 d (then f16 m for the asymmetric kind) followed by the
// quants. 4-bit blocks hold element j in the low nibble of byte j and element j + g/2 in its high nibble.
// The kernels address blocks through byte offsets; these structs pin the layouts and sizes down.

[InlineArray(16)] public struct QuantBytes16 { private byte _e0; }
[InlineArray(32)] public struct QuantBytes32 { private byte _e0; }
[InlineArray(64)] public struct QuantBytes64 { private byte _e0; }
[InlineArray(128)] public struct QuantBytes128 { private byte _e0; }

/// <summary>int8 symmetric, 32 values (ggml block_q8_0): x = qs[j] * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ8_0 { public Half D; public QuantBytes32 Qs; }

/// <summary>int8 symmetric, 64 values: x = qs[j] * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ8_G64 { public Half D; public QuantBytes64 Qs; }

/// <summary>int8 symmetric, 128 values: x = qs[j] * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ8_G128 { public Half D; public QuantBytes128 Qs; }

/// <summary>int4 symmetric, 32 values (ggml block_q4_0): x = (q - 8) * d.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_0 { public Half D; public QuantBytes16 Qs; }

/// <summary>int4 symmetric, 64 values: x = (q - 8) * d, nibble split at 32.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_G64 { public Half D; public QuantBytes32 Qs; }

/// <summary>int4 symmetric, 128 values: x = (q - 8) * d, nibble split at 64.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_G128 { public Half D; public QuantBytes64 Qs; }

/// <summary>int4 asymmetric, 32 values (ggml block_q4_1): x = q * d + m.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_1 { public Half D; public Half M; public QuantBytes16 Qs; }

/// <summary>int4 asymmetric, 64 values: x = q * d + m, nibble split at 32.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_1_G64 { public Half D; public Half M; public QuantBytes32 Qs; }

/// <summary>int4 asymmetric, 128 values: x = q * d + m, nibble split at 64.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct BlockQ4_1_G128 { public Half D; public Half M; public QuantBytes64 Qs; }

/// <summary>Ties each block struct to its row of <see cref="ElementTypes"/> and checks the sizes agree.</summary>
public static class QuantBlocks
{
    /// <summary>The struct size of a quantized type's block, or throws for a float type.</summary>
    public static int StructSize(ElementType type) => type switch
    {
        ElementType.Q8_0 => Unsafe.SizeOf<BlockQ8_0>(),
        ElementType.Q8_G64 => Unsafe.SizeOf<BlockQ8_G64>(),
        ElementType.Q8_G128 => Unsafe.SizeOf<BlockQ8_G128>(),
        ElementType.Q4_0 => Unsafe.SizeOf<BlockQ4_0>(),
        ElementType.Q4_G64 => Unsafe.SizeOf<BlockQ4_G64>(),
        ElementType.Q4_G128 => Unsafe.SizeOf<BlockQ4_G128>(),
        ElementType.Q4_1 => Unsafe.SizeOf<BlockQ4_1>(),
        ElementType.Q4_1_G64 => Unsafe.SizeOf<BlockQ4_1_G64>(),
        ElementType.Q4_1_G128 => Unsafe.SizeOf<BlockQ4_1_G128>(),
        _ => throw new ArgumentException($"{type.Info().Name} has no block struct"),
    };

    /// <summary>
    /// Throws when a block struct and its table row disagree. Runs once from <see cref="QuantOps"/>'s
    /// static constructor, so no kernel ever runs against a mis-sized layout.
    /// </summary>
    public static void AssertSizes()
    {
        foreach (var row in ElementTypes.All)
        {
            if (!row.IsQuantized) continue;
            int size = StructSize(row.Type);
            if (size != row.BlockBytes)
                throw new InvalidOperationException($"block struct of {row.Name} is {size} bytes, the element-type table says {row.BlockBytes}");
            int headerBytes = row.Kind == QuantKind.Int4Asymmetric ? 4 : 2;
            int quantBytes = row.Kind == QuantKind.Int8Symmetric ? row.BlockValues : row.BlockValues / 2;
            if (headerBytes + quantBytes != row.BlockBytes)
                throw new InvalidOperationException($"{row.Name}: {headerBytes} header bytes + {quantBytes} quant bytes != {row.BlockBytes}");
        }
    }
}
