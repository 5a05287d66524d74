using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Sees the activations a <see cref="Transformer"/> multiplies its matrices with (calibration: the
/// per-column mean x² that weights the quantizer's scale search, as llama.cpp's imatrix collects it).
/// </summary>
public interface IMatMulInputObserver
{
    /// <summary>
    /// Called once per matrix-multiply input of executed step <paramref name="step"/>, before the
    /// multiply: role <see cref="TensorRole.Q"/> for the attention-norm output that Q, K and V share,
    /// <see cref="TensorRole.O"/> for the attention output, <see cref="TensorRole.Gate"/> for the
    /// ffn-norm output that gate and up share, <see cref="TensorRole.Down"/> for the SwiGLU product, and
    /// <see cref="TensorRole.Output"/> (step = the number of executed steps) for the final-norm output
    /// the head multiplies. <paramref name="rows"/> is [<paramref name="n"/>, input width], row-major:
    /// the executor's buffer, to read or copy, never to keep.
    /// </summary>
    void OnMatMulInput(int step, TensorRole role, ReadOnlySpan<float> rows, int n);
}
