using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;

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
    /// <summary>5-bit symmetric, group 32 only (Q5_0).</summary>
    Q5,
    /// <summary>5-bit asymmetric, group 32 only (Q5_1).</summary>
    Q5A,
    /// <summary>ggml's 4-bit K-quant, super-blocks of 256 (Q4_K).</summary>
    Q4K,
    /// <summary>ggml's 6-bit K-quant, super-blocks of 256 (Q6_K).</summary>
    Q6K,
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
        string name = QuantPolicy.SchemeName(Scheme!.Value);
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
    /// <summary>How block scales are chosen: the squared-error search (default) or ggml's round to nearest (`--rounding rtn`).</summary>
    public QuantRounding Rounding { get; init; } = QuantRounding.Search;
    /// <summary>
    /// Exact tensor key -> element type, decided before the overrides and the defaults (the accuracy
    /// budget's search writes its choice here; keys are matched exactly, never as globs). Only types
    /// the tensor's width fits are put here, so an assigned type never falls back.
    /// </summary>
    public IReadOnlyDictionary<string, ElementType> Assigned { get; init; } = new Dictionary<string, ElementType>(StringComparer.Ordinal);

    public bool IsQuantized => Scheme is not (QuantScheme.F32 or QuantScheme.F16);

    /// <summary>The scheme as the user writes it: q4, q4a, q5_0, q4_k, ...</summary>
    public static string SchemeName(QuantScheme scheme) => scheme switch
    {
        QuantScheme.Q5 => "q5_0",
        QuantScheme.Q5A => "q5_1",
        QuantScheme.Q4K => "q4_k",
        QuantScheme.Q6K => "q6_k",
        _ => scheme.ToString().ToLowerInvariant(),
    };

    /// <summary>Parses `--rounding`: search (default) or rtn.</summary>
    public static QuantRounding ParseRounding(string text) => text.ToLowerInvariant() switch
    {
        "search" => QuantRounding.Search,
        "rtn" => QuantRounding.Rtn,
        _ => throw new QuantPolicyException($"--rounding {text}: expected search or rtn"),
    };

    /// <summary>
    /// Builds a policy from CLI text. <paramref name="scheme"/>: f32|f16|q8|q4|q4a or the GGUF spellings
    /// q8_0|q4_0|q4_1 (group 32; a different <paramref name="groupSize"/> is refused as contradictory).
    /// <paramref name="overrides"/>: "pattern=target" each, target a scheme or an element-type name.
    /// </summary>
    public static QuantPolicy Parse(string scheme, int? groupSize = null, IEnumerable<string>? overrides = null, bool strict = false,
        QuantRounding rounding = QuantRounding.Search)
    {
        var target = ParseTarget(scheme, "--quant");
        if (target.Type is { } t)
        {
            // A table name such as q4_g64 is a scheme with its group; bf16 is not a --quant scheme.
            var info = t.Info();
            if (!info.IsQuantized)
                throw new QuantPolicyException($"--quant {scheme}: expected {SchemeList}");
            target = new QuantTarget(SchemeOf(info.Kind), info.BlockValues, null);
        }
        if (groupSize is { } g && !GroupSizes.Contains(g) && g != target.GroupSize)
            throw new QuantPolicyException($"--group-size {g} is not supported: expected 32, 64 or 128");
        if (target.GroupSize is { } fixedGroup && groupSize is { } asked && asked != fixedGroup)
            throw new QuantPolicyException(ElementTypes.Find(KindOf(target.Scheme!.Value)!.Value, asked) is null
                ? $"--quant {scheme} means group {fixedGroup}, but --group-size is {asked}: {scheme} has only group {fixedGroup}"
                : $"--quant {scheme} means group {fixedGroup}, but --group-size is {asked}: use --quant {SchemeName(target.Scheme!.Value)} --group-size {asked}");
        var list = new List<QuantOverride>();
        foreach (var text in overrides ?? [])
        {
            int eq = text.LastIndexOf('=');
            if (eq <= 0 || eq == text.Length - 1)
                throw new QuantPolicyException($"override \"{text}\": expected pattern=type, e.g. model.layers.*.mlp.down_proj.weight=q8");
            list.Add(new QuantOverride(text[..eq].Trim(), ParseTarget(text[(eq + 1)..].Trim(), $"override \"{text}\"")));
        }
        // Refuses a kind at a group it does not have (q5_0 --group-size 64) here, not in the middle of a conversion.
        TypeOf(target.Scheme!.Value, target.GroupSize ?? groupSize ?? 32);
        return new QuantPolicy
        {
            Scheme = target.Scheme!.Value,
            GroupSize = target.GroupSize ?? groupSize ?? 32,
            Overrides = list,
            Strict = strict,
            Rounding = rounding,
        };
    }

    private const string SchemeList = "f32, f16, q8, q4, q4a, q5_0, q5_1, q4_k, q6_k (or q8_0, q4_0, q4_1)";

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
            case "q5_0": return new(QuantScheme.Q5, 32, null);
            case "q5_1": return new(QuantScheme.Q5A, 32, null);
            case "q4_k": return new(QuantScheme.Q4K, 256, null);
            case "q6_k": return new(QuantScheme.Q6K, 256, null);
        }
        if (ElementTypes.TryParse(name, out var type)) return new(null, null, type);
        throw new QuantPolicyException(
            $"{what}: unknown quantization scheme \"{name}\": expected {SchemeList}, or a type such as q4_g64");
    }

    /// <summary>The element type of a scheme at a group size (F32/F16 ignore the group).</summary>
    public static ElementType TypeOf(QuantScheme scheme, int groupSize)
    {
        var kind = KindOf(scheme);
        if (kind is null) return scheme == QuantScheme.F32 ? ElementType.F32 : ElementType.F16;
        return ElementTypes.Find(kind.Value, groupSize)
               ?? throw new QuantPolicyException($"{SchemeName(scheme)} at group size {groupSize} is not supported: "
                   + string.Join(", ", ElementTypes.All.Where(r => r.Kind == kind).Select(r => $"{r.Name} is group {r.BlockValues}")));
    }

    /// <summary>The block kind of a scheme, null for the float schemes.</summary>
    internal static QuantKind? KindOf(QuantScheme scheme) => scheme switch
    {
        QuantScheme.F32 or QuantScheme.F16 => null,
        QuantScheme.Q8 => QuantKind.Int8Symmetric,
        QuantScheme.Q4 => QuantKind.Int4Symmetric,
        QuantScheme.Q4A => QuantKind.Int4Asymmetric,
        QuantScheme.Q5 => QuantKind.Int5Symmetric,
        QuantScheme.Q5A => QuantKind.Int5Asymmetric,
        QuantScheme.Q4K => QuantKind.K4,
        QuantScheme.Q6K => QuantKind.K6,
        _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, "no such scheme"),
    };

    private static QuantScheme SchemeOf(QuantKind kind) => kind switch
    {
        QuantKind.Int8Symmetric => QuantScheme.Q8,
        QuantKind.Int4Symmetric => QuantScheme.Q4,
        QuantKind.Int4Asymmetric => QuantScheme.Q4A,
        QuantKind.Int5Symmetric => QuantScheme.Q5,
        QuantKind.Int5Asymmetric => QuantScheme.Q5A,
        QuantKind.K4 => QuantScheme.Q4K,
        QuantKind.K6 => QuantScheme.Q6K,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a quantized kind"),
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
        SchemeName(Scheme) + (IsQuantized ? $" group {GroupSize}" : "") +
        string.Concat(Overrides.Select(o => $", {o.Pattern}={o.Target}")) + (Strict ? ", strict" : "") +
        (IsQuantized && Rounding == QuantRounding.Rtn ? ", rounding rtn" : "") +
        (Assigned.Count > 0 ? $", {Assigned.Count} tensor types chosen by the accuracy budget" : "");
}
