using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Torch;

/// <summary>One row per storage class torch.save names in a persistent id: element size, and the IR type when there is one.</summary>
/// <param name="DType">The dtype torch prints without "torch." (float16, bfloat16, ...).</param>
/// <param name="Name">The storage class name (HalfStorage, BFloat16Storage, ...).</param>
/// <param name="ElementSize">Bytes per element.</param>
/// <param name="ElementType">The IR element type, or null when the IR has none.</param>
internal sealed record TorchStorageType(string Name, string DType, int ElementSize, ElementType? ElementType);

/// <summary>
/// The typed storage classes of torch/storage.py (_LegacyStorage subclasses registered in torch/__init__.py).
/// Only float, half and bfloat16 have an IR element type; the others parse (a state dict may hold an
/// integer buffer) but a tensor of them cannot be converted.
/// </summary>
internal static class TorchStorageTypes
{
    private static readonly TorchStorageType[] Table =
    [
        new("FloatStorage", "float32", 4, ElementType.F32),
        new("HalfStorage", "float16", 2, ElementType.F16),
        new("BFloat16Storage", "bfloat16", 2, ElementType.BF16),
        new("DoubleStorage", "float64", 8, null),
        new("LongStorage", "int64", 8, null),
        new("IntStorage", "int32", 4, null),
        new("ShortStorage", "int16", 2, null),
        new("CharStorage", "int8", 1, null),
        new("ByteStorage", "uint8", 1, null),
        new("BoolStorage", "bool", 1, null),
        new("ComplexFloatStorage", "complex64", 8, null),
        new("ComplexDoubleStorage", "complex128", 16, null),
        new("QInt8Storage", "qint8", 1, null),
        new("QUInt8Storage", "quint8", 1, null),
        new("QInt32Storage", "qint32", 4, null),
        new("UntypedStorage", "untyped bytes", 1, null),
    ];

    private static readonly Dictionary<string, TorchStorageType> ByName = Table.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>The row for a class of module <c>torch</c>, or null.</summary>
    public static TorchStorageType? Find(string name) => ByName.GetValueOrDefault(name);
}
