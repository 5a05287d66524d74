namespace MobileLlmConvert.Formats.Onnx;

/// <summary>Where the graph file of an ONNX model lies: what another runtime (ONNX Runtime) is given to load.</summary>
public static class OnnxFolder
{
    /// <summary>The graph file of a model folder (formats/onnx.md).</summary>
    public const string ModelFileName = OnnxContainer.ModelFileName;

    /// <summary>
    /// model.onnx inside the folder <paramref name="path"/>, or <paramref name="path"/> itself when it is a
    /// .onnx file; null when it is neither. Says nothing about the content: read the model first.
    /// </summary>
    public static string? ModelFileOf(string path)
    {
        if (Directory.Exists(path)) return File.Exists(Path.Combine(path, ModelFileName)) ? Path.Combine(path, ModelFileName) : null;
        return File.Exists(path) && path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? path : null;
    }
}
