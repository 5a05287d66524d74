using DataType = Onnx.TensorProto.Types.DataType;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// The ONNX element types an mlconvert folder may hold, with their storage width in bits
/// (onnx/onnx.proto TensorProto.DataType; 4-bit types pack two elements a byte, low nibble first,
/// https://github.com/onnx/onnx/blob/main/docs/docsgen/source/technical/int4.md). Any other type is refused.
/// </summary>
internal static class OnnxTypes
{
    private static readonly Dictionary<DataType, int> BitsOf = new()
    {
        [DataType.Float] = 32,
        [DataType.Float16] = 16,
        [DataType.Bfloat16] = 16,
        [DataType.Int64] = 64,
        [DataType.Int32] = 32,
        [DataType.Uint8] = 8,
        [DataType.Int8] = 8,
        [DataType.Uint4] = 4,
        [DataType.Int4] = 4,
    };

    /// <summary>Bits per element, or null for a type mlconvert does not write.</summary>
    public static int? Bits(DataType type) => BitsOf.TryGetValue(type, out int b) ? b : null;

    /// <summary>The upper-case spelling of onnx.proto ("FLOAT16", "UINT4").</summary>
    public static string Name(DataType type) => type.ToString().ToUpperInvariant();

    /// <summary>Every accepted type, for messages.</summary>
    public static string Names { get; } = string.Join(", ", BitsOf.Keys.Select(Name));
}
