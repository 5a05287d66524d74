namespace MobileLlmConvert.Runtime;

/// <summary>
/// The generation loop: prefill the prompt as one batch, then sample and feed one token at a time.
/// Continues from whatever the model's KV cache holds (call <see cref="ILogitModel.Reset"/> first for
/// a fresh conversation). Runs any <see cref="ILogitModel"/>: the reference executor or ONNX Runtime.
/// </summary>
public sealed class Generator
{
    private readonly ILogitModel _model;
    private readonly Sampler _sampler;
    private readonly int[] _one = new int[1];

    /// <summary>A generator over <paramref name="model"/>'s KV cache, choosing tokens with <paramref name="sampler"/>.</summary>
    public Generator(ILogitModel model, Sampler sampler)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampler);
        _model = model;
        _sampler = sampler;
    }

    /// <summary>
    /// Yields generated token ids one at a time. Stops before <paramref name="stopToken"/> (the EOS,
    /// which is not yielded), after <paramref name="maxTokens"/> tokens, or when the KV cache is full.
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, int maxTokens, int? stopToken)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt needs at least one token (e.g. BOS)", nameof(prompt));
        if (maxTokens < 0) throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "must not be negative");
        return Iterate(prompt.ToArray(), maxTokens, stopToken);
    }

    private IEnumerable<int> Iterate(int[] prompt, int maxTokens, int? stopToken)
    {
        if (maxTokens == 0) yield break;
        int next = _sampler.Sample(_model.ForwardLast(prompt));
        for (int produced = 0; ; )
        {
            if (next == stopToken) yield break;
            yield return next;
            produced++;
            if (produced == maxTokens || _model.Position >= _model.MaxContext) yield break;
            _one[0] = next;
            next = _sampler.Sample(_model.ForwardLast(_one));
        }
    }
}
