using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>Reads an ONNX folder written by the ONNX writer back into the IR (owned by the `onnxread` work; a placeholder until it lands).</summary>
internal static class OnnxReader
{
    /// <summary>Reads the folder (or its model.onnx) at <paramref name="path"/>.</summary>
    public static ModelIr Read(string path, ReadOptions options) =>
        throw new ModelUsageException($"{path}: reading ONNX folders: not built yet");
}
