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
    /// <summary>The keys in role order (<see cref="TensorRoles.Step"/>); passes rely on this order.</summary>
    public IEnumerable<string> Keys => [AttnNorm, Q, K, V, O, FfnNorm, Gate, Up, Down];

    /// <summary>The key this step holds for a per-step <paramref name="role"/>.</summary>
    public string this[TensorRole role] => role.Info().KeyIn(this);

    /// <summary>A copy whose key for <paramref name="role"/> is <paramref name="key"/>.</summary>
    public LayerStep With(TensorRole role, string key) => role.Info().With(this, key);

    /// <summary>A step whose key for each per-step role is <paramref name="keyOf"/>(role).</summary>
    public static LayerStep FromRoles(Func<TensorRole, string> keyOf) =>
        new(keyOf(TensorRole.AttnNorm), keyOf(TensorRole.Q), keyOf(TensorRole.K), keyOf(TensorRole.V), keyOf(TensorRole.O),
            keyOf(TensorRole.FfnNorm), keyOf(TensorRole.Gate), keyOf(TensorRole.Up), keyOf(TensorRole.Down));

    /// <summary>Replaces every key through <paramref name="map"/> (used by dedup passes).</summary>
    public LayerStep Remap(Func<string, string> map) => FromRoles(role => map(this[role]));
}
