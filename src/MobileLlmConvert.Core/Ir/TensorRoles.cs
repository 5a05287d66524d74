namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// What a tensor is for in a Llama-style decoder. Every format names tensors by role (a column per
/// format in Formats' TensorNames); the IR, the passes and the executor only ever ask by role.
/// </summary>
public enum TensorRole
{
    /// <summary>The token embedding [vocab, hidden].</summary>
    TokenEmbedding,
    /// <summary>RMSNorm weight before attention [hidden] (per step).</summary>
    AttnNorm,
    /// <summary>Query projection [heads x head_dim, hidden] (per step).</summary>
    Q,
    /// <summary>Key projection [kv_heads x head_dim, hidden] (per step).</summary>
    K,
    /// <summary>Value projection [kv_heads x head_dim, hidden] (per step).</summary>
    V,
    /// <summary>Attention output projection [hidden, heads x head_dim] (per step).</summary>
    O,
    /// <summary>RMSNorm weight before the feed-forward block [hidden] (per step).</summary>
    FfnNorm,
    /// <summary>SwiGLU gate projection [intermediate, hidden] (per step).</summary>
    Gate,
    /// <summary>SwiGLU up projection [intermediate, hidden] (per step).</summary>
    Up,
    /// <summary>SwiGLU down projection [hidden, intermediate] (per step).</summary>
    Down,
    /// <summary>The final RMSNorm weight [hidden].</summary>
    OutputNorm,
    /// <summary>The output head [vocab, hidden]; the embedding itself when tied.</summary>
    Output,
}

/// <summary>
/// One row of the role table: the role, its short stable name (what reports and JSON print), whether
/// each layer step has its own (per-step roles are the keys of a <see cref="LayerStep"/>), and the
/// shape the config implies, [out, in] for matrices as Hugging Face and the IR store them.
/// </summary>
public sealed class TensorRoleInfo
{
    private readonly Func<ModelConfig, long[]> _shape;
    private readonly Func<LayerStep, string>? _stepKey;
    private readonly Func<LayerStep, string, LayerStep>? _withStepKey;
    private readonly Func<ModelIr, string>? _modelKey;

    internal TensorRoleInfo(TensorRole role, string name, Func<ModelConfig, long[]> shape, Func<LayerStep, string> stepKey,
        Func<LayerStep, string, LayerStep> withStepKey)
    {
        (Role, Name, PerStep, _shape, _stepKey, _withStepKey) = (role, name, true, shape, stepKey, withStepKey);
    }

    internal TensorRoleInfo(TensorRole role, string name, Func<ModelConfig, long[]> shape, Func<ModelIr, string> modelKey)
    {
        (Role, Name, PerStep, _shape, _modelKey) = (role, name, false, shape, modelKey);
    }

    /// <summary>The role this row describes.</summary>
    public TensorRole Role { get; }
    /// <summary>Short stable name: "embedding", "attn_norm", "q", ..., "final_norm", "output".</summary>
    public string Name { get; }
    /// <summary>True for the nine roles every layer step names; false for embedding, final norm and head.</summary>
    public bool PerStep { get; }

    /// <summary>The shape <paramref name="config"/> implies for a tensor in this role ([out, in] for matrices).</summary>
    public long[] ExpectedShape(ModelConfig config) => _shape(config);

    /// <summary>The key <paramref name="step"/> holds for this per-step role.</summary>
    public string KeyIn(LayerStep step) => (_stepKey ?? throw NotPerStep())(step);

    /// <summary>A copy of <paramref name="step"/> whose key for this per-step role is <paramref name="key"/>.</summary>
    public LayerStep With(LayerStep step, string key) => (_withStepKey ?? throw NotPerStep())(step, key);

    /// <summary>The key of this model-level role (embedding, final norm, head) in <paramref name="ir"/>.</summary>
    public string KeyIn(ModelIr ir) => (_modelKey ?? throw new InvalidOperationException($"role {Name} is per step: ask a layer step"))(ir);

    private InvalidOperationException NotPerStep() => new($"role {Name} is not per step: ask the model");
}

/// <summary>
/// The one table of tensor roles (gguf-py's MODEL_TENSOR list, minus the names: names are format
/// knowledge and live in Formats). <see cref="All"/> is in execution order: embedding, the nine
/// per-step roles in <see cref="LayerStep.Keys"/> order, final norm, head.
/// </summary>
public static class TensorRoles
{
    /// <summary>Every row, in <see cref="TensorRole"/> order.</summary>
    public static readonly IReadOnlyList<TensorRoleInfo> All =
    [
        new(TensorRole.TokenEmbedding, "embedding", c => [c.VocabSize, c.HiddenSize], ir => ir.Embedding),
        new(TensorRole.AttnNorm, "attn_norm", c => [c.HiddenSize], s => s.AttnNorm, (s, k) => s with { AttnNorm = k }),
        new(TensorRole.Q, "q", c => [QueryRows(c), c.HiddenSize], s => s.Q, (s, k) => s with { Q = k }),
        new(TensorRole.K, "k", c => [KvRows(c), c.HiddenSize], s => s.K, (s, k) => s with { K = k }),
        new(TensorRole.V, "v", c => [KvRows(c), c.HiddenSize], s => s.V, (s, k) => s with { V = k }),
        new(TensorRole.O, "o", c => [c.HiddenSize, QueryRows(c)], s => s.O, (s, k) => s with { O = k }),
        new(TensorRole.FfnNorm, "ffn_norm", c => [c.HiddenSize], s => s.FfnNorm, (s, k) => s with { FfnNorm = k }),
        new(TensorRole.Gate, "gate", c => [c.IntermediateSize, c.HiddenSize], s => s.Gate, (s, k) => s with { Gate = k }),
        new(TensorRole.Up, "up", c => [c.IntermediateSize, c.HiddenSize], s => s.Up, (s, k) => s with { Up = k }),
        new(TensorRole.Down, "down", c => [c.HiddenSize, c.IntermediateSize], s => s.Down, (s, k) => s with { Down = k }),
        new(TensorRole.OutputNorm, "final_norm", c => [c.HiddenSize], ir => ir.FinalNorm),
        new(TensorRole.Output, "output", c => [c.VocabSize, c.HiddenSize], ir => ir.Output),
    ];

    // Widths in long: a hostile header's head count x head_dim may not fit an int (ModelConfig's
    // QueryWidth/KvWidth are for validated configs), and the check must report it, not wrap.
    private static long QueryRows(ModelConfig c) => (long)c.NumHeads * c.HeadDim;
    private static long KvRows(ModelConfig c) => (long)c.NumKvHeads * c.HeadDim;

    /// <summary>The nine per-step roles, in <see cref="LayerStep.Keys"/> order.</summary>
    public static readonly IReadOnlyList<TensorRole> Step = [.. All.Where(r => r.PerStep).Select(r => r.Role)];

    /// <summary>The roles held once per model, in execution order: embedding, final norm, head.</summary>
    public static readonly IReadOnlyList<TensorRole> Model = [.. All.Where(r => !r.PerStep).Select(r => r.Role)];

    /// <summary>The attention projections, the group a report calls "attention".</summary>
    public static readonly IReadOnlyList<TensorRole> Attention = [TensorRole.Q, TensorRole.K, TensorRole.V, TensorRole.O];

    /// <summary>The FFN projections, the group a report calls "ffn" (MobiLlama shares exactly these).</summary>
    public static readonly IReadOnlyList<TensorRole> Ffn = [TensorRole.Gate, TensorRole.Up, TensorRole.Down];

    /// <summary>The table row of <paramref name="role"/>.</summary>
    public static TensorRoleInfo Info(this TensorRole role) =>
        (uint)role < (uint)All.Count && All[(int)role].Role == role ? All[(int)role] : throw new ArgumentOutOfRangeException(nameof(role), role, "not a tensor role");

    /// <summary>The short stable name of <paramref name="role"/> (see <see cref="TensorRoleInfo.Name"/>).</summary>
    public static string Name(this TensorRole role) => role.Info().Name;

    /// <summary>The shape <paramref name="config"/> implies for <paramref name="role"/>.</summary>
    public static long[] ExpectedShape(this TensorRole role, ModelConfig config) => role.Info().ExpectedShape(config);

    /// <summary>A step's keys paired with their roles, in <see cref="LayerStep.Keys"/> order.</summary>
    public static IEnumerable<(TensorRole Role, string Key)> Of(LayerStep step)
    {
        foreach (var role in Step) yield return (role, step[role]);
    }

    /// <summary>
    /// Every use of a tensor in execution order (the embedding, each step's nine keys, final norm, head)
    /// with its role and the step using it (null for model-level roles). A shared key appears once per use.
    /// </summary>
    public static IEnumerable<(TensorRole Role, int? Step, string Key)> Uses(ModelIr ir)
    {
        yield return (TensorRole.TokenEmbedding, null, ir.Embedding);
        for (int i = 0; i < ir.Steps.Count; i++)
        {
            foreach (var (role, key) in Of(ir.Steps[i])) yield return (role, i, key);
        }
        foreach (var role in Model)
        {
            if (role != TensorRole.TokenEmbedding) yield return (role, null, role.Info().KeyIn(ir));
        }
    }
}
