namespace MobileLlmConvert.Runtime;

/// <summary>
/// A causal language model that turns token ids into next-token logits with a KV cache: what the
/// evaluation engine (verify, diff), the generator and the benchmark need from a runtime. The reference
/// executor (<see cref="Transformer"/>) and ONNX Runtime (MobileLlmConvert.OnnxRuntime's OrtModel)
/// implement it, so every verb runs either through the same code path.
/// </summary>
public interface ILogitModel : IDisposable
{
    /// <summary>Number of logits per position.</summary>
    int VocabSize { get; }

    /// <summary>Longest sequence the KV cache holds.</summary>
    int MaxContext { get; }

    /// <summary>Tokens in the KV cache: the position the next token gets.</summary>
    int Position { get; }

    /// <summary>Empties the KV cache: the next token is position 0.</summary>
    void Reset();

    /// <summary>Feeds <paramref name="tokens"/> and writes the logits of every new position into <paramref name="logits"/> ([tokens.Length, vocab], row-major).</summary>
    void Forward(ReadOnlySpan<int> tokens, Span<float> logits);

    /// <summary>Feeds <paramref name="tokens"/> (at least one) and returns the logits of the last position, valid until the next call.</summary>
    ReadOnlySpan<float> ForwardLast(ReadOnlySpan<int> tokens);
}
