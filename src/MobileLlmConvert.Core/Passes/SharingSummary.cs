using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>One stored tensor and where the model uses it.</summary>
/// <param name="Steps">Executed steps that use it, ascending.</param>
/// <param name="Roles">Distinct roles ("embedding", "output", "q", "gate", ...) in first-use order.</param>
/// <param name="Key">The tensor's key.</param>
/// <param name="Type">Element type name.</param>
/// <param name="Shape">Dimensions, outermost first.</param>
/// <param name="Parameters">Values stored.</param>
/// <param name="Bytes">Bytes stored.</param>
public sealed record TensorUse(string Key, string Type, long[] Shape, long Parameters, long Bytes, IReadOnlyList<int> Steps, IReadOnlyList<string> Roles);

/// <summary>Stored tensors used by the same two or more executed steps.</summary>
/// <param name="What">"block", "ffn", "attention" or "tensors": which part of a block the group is.</param>
/// <param name="KeysText">The keys for people: "model.layers.0.*" or compressed names.</param>
/// <param name="Steps">The executed steps that share the keys.</param>
/// <param name="Keys">The shared tensor keys.</param>
/// <param name="Parameters">Values the group stores once.</param>
public sealed record SharedGroup(IReadOnlyList<int> Steps, IReadOnlyList<string> Keys, string KeysText, string What, long Parameters)
{
    /// <summary>e.g. "steps 0,1 share model.layers.0.* (block, 9 tensors, 3,540,096 parameters)".</summary>
    public string Text => $"steps {NamePatterns.Ranges(Steps)} share {KeysText} ({What}, {Keys.Count} tensor{(Keys.Count == 1 ? "" : "s")}, {TensorBytes.Count(Parameters)} parameters)";
}

/// <summary>
/// Which stored tensors are used by which executed steps: what `inspect` prints as
/// "steps 0,1 share model.layers.0.*" and "ffn shared by steps 0..21". Records of lists and
/// strings, so System.Text.Json serializes it as is.
/// </summary>
public sealed record SharingSummary(
    int ExecutedSteps,
    int StoredTensors,
    long StoredParameters,
    long ExecutedParameters,
    long StoredBytes,
    bool HeadTied,
    int KvHeads,
    long KvCacheBytesPerToken,
    IReadOnlyList<TensorUse> Tensors,
    IReadOnlyList<SharedGroup> Shared)
{
    private static readonly string[] FfnRoles = [.. TensorRoles.Ffn.Select(r => r.Name())];
    private static readonly string[] AttentionRoles = [.. TensorRoles.Attention.Select(r => r.Name())];

    /// <summary>Computes the summary of an IR from its steps and stored tensors.</summary>
    public static SharingSummary Of(ModelIr ir)
    {
        var steps = new Dictionary<string, SortedSet<int>>(StringComparer.Ordinal);
        var roles = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Use(string key, string role, int? step)
        {
            if (!roles.TryGetValue(key, out var r)) roles[key] = r = [];
            if (!r.Contains(role)) r.Add(role);
            if (!steps.TryGetValue(key, out var s)) steps[key] = s = [];
            if (step is { } i) s.Add(i);
        }
        foreach (var (role, step, key) in TensorRoles.Uses(ir)) Use(key, role.Name(), step);

        var uses = ir.Tensors.Select(t => new TensorUse(t.Name, t.Type.Info().Name, t.Shape, t.ElementCount, t.ByteLength,
            steps.TryGetValue(t.Name, out var s) ? s.ToList() : [], roles.TryGetValue(t.Name, out var r) ? r : [])).ToList();

        // Group multi-step tensors by their exact step set, in table order of each group's first tensor.
        var shared = uses.Where(u => u.Steps.Count > 1)
            .GroupBy(u => NamePatterns.Ranges(u.Steps))
            .Select(g => Group(ir, g.ToList()))
            .ToList();
        return new SharingSummary(ir.Steps.Count, ir.Tensors.Count, ir.StoredParameters, ir.ExecutedParameters, ir.StoredBytes,
            ir.IsTied, ir.Config.NumKvHeads, KvCacheSize.BytesPerToken(ir.Config), uses, shared);
    }

    /// <summary>Lines for `inspect`: totals, the head, then one line per shared group.</summary>
    public IEnumerable<string> ToTextLines()
    {
        yield return $"stored: {StoredTensors} tensors, {TensorBytes.Count(StoredParameters)} parameters, {TensorBytes.Count(StoredBytes)} bytes";
        yield return $"executed: {ExecutedSteps} layer steps, {TensorBytes.Count(ExecutedParameters)} parameters per token";
        yield return HeadTied ? "head: tied to the embedding" : "head: stored separately";
        yield return $"kv heads: {KvHeads}, f32 KV cache {TensorBytes.Count(KvCacheBytesPerToken)} bytes per token";
        if (Shared.Count == 0) yield return "no stored tensor is used by more than one step";
        foreach (var g in Shared) yield return g.Text;
    }

    private static SharedGroup Group(ModelIr ir, List<TensorUse> members)
    {
        var keys = members.Select(m => m.Key).ToList();
        var roleSet = members.SelectMany(m => m.Roles).Distinct().ToList();
        string what = roleSet.Count == TensorRoles.Step.Count ? "block"
            : roleSet.Count == FfnRoles.Length && FfnRoles.All(roleSet.Contains) ? "ffn"
            : roleSet.Count == AttentionRoles.Length && AttentionRoles.All(roleSet.Contains) ? "attention"
            : "tensors";
        return new SharedGroup(members[0].Steps, keys, KeysText(ir, keys), what, members.Sum(m => m.Parameters));
    }

    /// <summary>"model.layers.0.*" when the keys are every stored tensor under one prefix, else the names.</summary>
    private static string KeysText(ModelIr ir, List<string> keys)
    {
        // The block prefix of the first key, e.g. "model.layers.0.".
        if (NamePatterns.TrySplitIndex(keys[0], out var stem, out int index, out _))
        {
            string prefix = $"{stem}{index}.";
            var under = ir.Tensors.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal)).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            if (under.SetEquals(keys)) return prefix + "*";
        }
        return NamePatterns.Join(keys);
    }
}
