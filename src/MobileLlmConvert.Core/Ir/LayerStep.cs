namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// One executed transformer block: keys into the model's tensor table. Sharing is two steps naming
/// the same key (MobileLLM-LS repeats, MobiLlama's one FFN). Every step has its own KV-cache slot.
/// </summary>
public sealed record LayerStep(
    string AttnNorm,
    string Q,
    string K,
    string V,
    string O,
    string FfnNorm,
    string Gate,
    string Up,
    string Down)
{
    public IEnumerable<string> Keys => [AttnNorm, Q, K, V, O, FfnNorm, Gate, Up, Down];

    /// <summary>Replaces every key through <paramref name="map"/> (used by dedup passes).</summary>
    public LayerStep Remap(Func<string, string> map) =>
        new(map(AttnNorm), map(Q), map(K), map(V), map(O), map(FfnNorm), map(Gate), map(Up), map(Down));
}
