using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>
/// The nine roles a tensor plays inside a layer step, in <see cref="LayerStep.Keys"/> order, with the
/// Hugging Face name suffix under <c>model.layers.{i}.</c> (transformers models/llama/modeling_llama.py). Reports and
/// the synthetic variants name roles from this one table.
/// </summary>
public static class StepRoles
{
    public const string Embedding = "embedding";
    public const string FinalNorm = "final_norm";
    public const string Output = "output";

    /// <summary>Role names, aligned with <see cref="LayerStep.Keys"/>.</summary>
    public static readonly IReadOnlyList<string> Names = ["attn_norm", "q", "k", "v", "o", "ffn_norm", "gate", "up", "down"];

    /// <summary>Hugging Face suffixes, aligned with <see cref="Names"/>.</summary>
    public static readonly IReadOnlyList<string> HfSuffixes =
    [
        "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
        "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
        "mlp.down_proj.weight",
    ];

    /// <summary>The step's keys paired with their role names.</summary>
    public static IEnumerable<(string Role, string Key)> Of(LayerStep step)
    {
        int i = 0;
        foreach (var key in step.Keys) yield return (Names[i++], key);
    }

    /// <summary>A step whose keys are the Hugging Face names of block <paramref name="layer"/>.</summary>
    public static LayerStep HfStep(int layer)
    {
        string p = $"model.layers.{layer}.";
        return new LayerStep(p + HfSuffixes[0], p + HfSuffixes[1], p + HfSuffixes[2], p + HfSuffixes[3], p + HfSuffixes[4],
            p + HfSuffixes[5], p + HfSuffixes[6], p + HfSuffixes[7], p + HfSuffixes[8]);
    }
}
