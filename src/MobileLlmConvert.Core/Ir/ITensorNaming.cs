namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// Names tensors by role: one column of Formats' naming table. Core code that must invent keys (the
/// synthetic models) takes one from its caller, so Core itself holds no file format's names.
/// </summary>
public interface ITensorNaming
{
    /// <summary>The name of <paramref name="role"/> in block <paramref name="block"/> (ignored for model-level roles).</summary>
    string Name(TensorRole role, int block = -1);
}
