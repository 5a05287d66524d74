using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>The `--quant` schemes. Each names a kind; the group size comes from the policy.</summary>
public enum QuantScheme
{
    F32,
    F16,
    /// <summary>int8 symmetric (Q8_0 at group 32).</summary>
    Q8,
    /// <summary>int4 symmetric (Q4_0 at group 32).</summary>
    Q4,
    /// <summary>int4 asymmetric, with a min per block (Q4_1 at group 32).</summary>
    Q4A,
}

/// <summary>A bad `--quant`, `--group-size` or override, or a tensor `--strict` refuses to fall back for.</summary>
public sealed class QuantPolicyException(string message) : ArgumentException(message);

/// <summary>
/// What a per-tensor override asks for: a scheme at the policy's group size (<c>q4</c>), a scheme
/// with its own group (<c>q8_0</c> = group 32), or an element type by its table name (<c>q4_g64</c>, <c>bf16</c>).
/// </summary>
public sealed record QuantTarget(QuantScheme? Scheme, int? GroupSize, ElementType? Type)
{
    /// <summary>The element type this target means under a policy group size.</summary>
    public ElementType Resolve(int policyGroupSize)
    {
        if (Type is { } t) return t;
        return QuantPolicy.TypeOf(Scheme!.Value, GroupSize ?? policyGroupSize);
    }

    /// <summary>As the user would write it: q4, q8_0 (a GGUF spelling is group 32), q4_g64, f16.</summary>
    public override string ToString()
    {
        if (Type is { } t) return t.Info().Name;
        string name = Scheme!.Value.ToString().ToLowerInvariant();
        return GroupSize is { } g ? QuantPolicy.TypeOf(Scheme.Value, g).Info().Name : name;
    }
}

/// <summary>A glob on tensor keys (<c>*</c> any run of characters, <c>?</c> one) and what matching tensors become.</summary>
public sealed record QuantOverride(string Pattern, QuantTarget Target)
{
    public bool Matches(string key) => Glob(Pattern, key);

    /// <summary>Iterative glob match with one backtrack point per star: linear in practice, never exponential.</summary>
    internal static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t])) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}

/// <summary>
/// How the Quantize pass chooses each stored tensor's element type (docs/quantization.md).
/// Defaults protect quality: 1-D tensors (norms) stay F32; with a quantized scheme the embedding and
/// the output head are 8-bit at the policy's group size (as llama.cpp keeps output.weight above 4 bits,
/// src/llama-quant.cpp llama_tensor_get_type); overrides, last match wins, say otherwise. A tensor whose input width is not a
/// multiple of the group falls back (see <see cref="QuantizePass"/>) or, with <see cref="Strict"/>, is refused.
/// </summary>
public sealed record QuantPolicy
{
    public static readonly int[] GroupSizes = [32, 64, 128];

    public QuantScheme Scheme { get; init; } = QuantScheme.Q8;
    public int GroupSize { get; init; } = 32;
    /// <summary>Applied in order; the last override whose pattern matches a key decides.</summary>
    public IReadOnlyList<QuantOverride> Overrides { get; init; } = [];
    /// <summary>Refuse (throw) instead of falling back when a width is not a multiple of the group.</summary>
    public bool Strict { get; init; }

    public bool IsQuantized => Scheme is QuantScheme.Q8 or QuantScheme.Q4 or QuantScheme.Q4A;

    /// <summary>
    /// Builds a policy from CLI text. <paramref name="scheme"/>: f32|f16|q8|q4|q4a or the GGUF spellings
    /// q8_0|q4_0|q4_1 (group 32; a different <paramref name="groupSize"/> is refused as contradictory).
    /// <paramref name="overrides"/>: "pattern=target" each, target a scheme or an element-type name.
    /// </summary>
    public static QuantPolicy Parse(string scheme, int? groupSize = null, IEnumerable<string>? overrides = null, bool strict = false)
    {
        var target = ParseTarget(scheme, "--quant");
        if (target.Type is { } t)
        {
            // A table name such as q4_g64 is a scheme with its group; bf16 is not a --quant scheme.
            var info = t.Info();
            if (!info.IsQuantized)
                throw new QuantPolicyException($"--quant {scheme}: expected f32, f16, q8, q4, q4a (or q8_0, q4_0, q4_1)");
            target = new QuantTarget(SchemeOf(info.Kind), info.BlockValues, null);
        }
        if (groupSize is { } g && !GroupSizes.Contains(g))
            throw new QuantPolicyException($"--group-size {g} is not supported: expected 32, 64 or 128");
        if (target.GroupSize is { } fixedGroup && groupSize is { } asked && asked != fixedGroup)
            throw new QuantPolicyException($"--quant {scheme} means group {fixedGroup}, but --group-size is {asked}: use --quant {target.Scheme!.Value.ToString().ToLowerInvariant()} --group-size {asked}");
        var list = new List<QuantOverride>();
        foreach (var text in overrides ?? [])
        {
            int eq = text.LastIndexOf('=');
            if (eq <= 0 || eq == text.Length - 1)
                throw new QuantPolicyException($"override \"{text}\": expected pattern=type, e.g. model.layers.*.mlp.down_proj.weight=q8");
            list.Add(new QuantOverride(text[..eq].Trim(), ParseTarget(text[(eq + 1)..].Trim(), $"override \"{text}\"")));
        }
        return new QuantPolicy
        {
            Scheme = target.Scheme!.Value,
            GroupSize = target.GroupSize ?? groupSize ?? 32,
            Overrides = list,
            Strict = strict,
        };
    }

    /// <summary>
    /// A scheme or element-type name: f32, f16, bf16, q8, q4, q4a, q8_0, q4_0, q4_1, q8_g64, q4_1_g128, ...
    /// <paramref name="what"/> names the option in the error.
    /// </summary>
    public static QuantTarget ParseTarget(string name, string what)
    {
        switch (name.ToLowerInvariant())
        {
            case "f32": return new(QuantScheme.F32, null, null);
            case "f16": return new(QuantScheme.F16, null, null);
            case "q8": return new(QuantScheme.Q8, null, null);
            case "q4": return new(QuantScheme.Q4, null, null);
            case "q4a": return new(QuantScheme.Q4A, null, null);
            case "q8_0": return new(QuantScheme.Q8, 32, null);
            case "q4_0": return new(QuantScheme.Q4, 32, null);
            case "q4_1": return new(QuantScheme.Q4A, 32, null);
        }
        if (ElementTypes.TryParse(name, out var type)) return new(null, null, type);
        throw new QuantPolicyException(
            $"{what}: unknown quantization scheme \"{name}\": expected f32, f16, q8, q4, q4a (or q8_0, q4_0, q4_1, or a type such as q4_g64)");
    }

    /// <summary>The element type of a scheme at a group size (F32/F16 ignore the group).</summary>
    public static ElementType TypeOf(QuantScheme scheme, int groupSize)
    {
        var kind = scheme switch
        {
            QuantScheme.F32 => (QuantKind?)null,
            QuantScheme.F16 => null,
            QuantScheme.Q8 => QuantKind.Int8Symmetric,
            QuantScheme.Q4 => QuantKind.Int4Symmetric,
            _ => QuantKind.Int4Asymmetric,
        };
        if (kind is null) return scheme == QuantScheme.F32 ? ElementType.F32 : ElementType.F16;
        return ElementTypes.Find(kind.Value, groupSize)
               ?? throw new QuantPolicyException($"group size {groupSize} is not supported: expected 32, 64 or 128");
    }

    private static QuantScheme SchemeOf(QuantKind kind) => kind switch
    {
        QuantKind.Int8Symmetric => QuantScheme.Q8,
        QuantKind.Int4Symmetric => QuantScheme.Q4,
        _ => QuantScheme.Q4A,
    };

    /// <summary>The last override matching <paramref name="key"/>, or null.</summary>
    public QuantOverride? OverrideFor(string key)
    {
        for (int i = Overrides.Count - 1; i >= 0; i--)
        {
            if (Overrides[i].Matches(key)) return Overrides[i];
        }
        return null;
    }

    public override string ToString() =>
        $"{Scheme.ToString().ToLowerInvariant()}" + (IsQuantized ? $" group {GroupSize}" : "") +
        string.Concat(Overrides.Select(o => $", {o.Pattern}={o.Target}")) + (Strict ? ", strict" : "");
}
