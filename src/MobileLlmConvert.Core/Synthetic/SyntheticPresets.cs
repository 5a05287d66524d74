using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;

namespace MobileLlmConvert.Core.Synthetic;

/// <summary>
/// A named full-size shape for `mlconvert synth`: the spec, and for MobiLlama-1B the relabelling that
/// gives it per-layer FFNs under the MobiLlama architecture (<see cref="SyntheticVariants.AsMobiLlamaWithPerLayerFfns"/>).
/// </summary>
public sealed record SyntheticPreset(string Name, SyntheticSpec Spec, bool MobiLlamaWithPerLayerFfns = false)
{
    /// <summary>The random model of this shape (with <paramref name="spec"/> in place of <see cref="Spec"/> when given: a seed, a dtype, layer sharing).</summary>
    public ModelIr Create(ITensorNaming names, SyntheticSpec? spec = null)
    {
        var ir = SyntheticModel.Create(spec ?? Spec, names);
        return MobiLlamaWithPerLayerFfns ? SyntheticVariants.AsMobiLlamaWithPerLayerFfns(ir) : ir;
    }
}

/// <summary>
/// The published shapes, as their Hugging Face config.json files give them. MobileLLM (facebook/MobileLLM-*,
/// head_dim 64, vocab 32000, share_embedding: the head is the embedding) except MobileLLM-1.5B,
/// published as a plain LlamaForCausalLM with its own head; MobiLlama (MBZUAI/MobiLlama-05B, -08B, -1B:
/// 22 layers, 32 heads, full MHA, untied head), whose 05B and 08B share one FFN across blocks and whose
/// 1B does not. Weights are random (<see cref="SyntheticModel"/>): these are shapes for benchmarks.
/// </summary>
public static class SyntheticPresets
{
    private static SyntheticSpec MobileLlm(int hidden, int intermediate, int layers, int heads, int kvHeads) => SyntheticModel.MobileLlm125M with
    {
        HiddenSize = hidden, IntermediateSize = intermediate, StoredLayers = layers, NumHeads = heads, NumKvHeads = kvHeads,
    };

    private static SyntheticSpec MobiLlama(int hidden, int intermediate, int context) => new()
    {
        Family = ModelFamily.MobiLlama, VocabSize = 32000, HiddenSize = hidden, IntermediateSize = intermediate, NumHeads = 32,
        NumKvHeads = 32, StoredLayers = 22, DType = ElementType.BF16, InitStd = 0.02f, ContextLength = context,
    };

    /// <summary>Every preset by name, the full-size shapes first, then the tiny ones tests and examples use.</summary>
    public static IReadOnlyList<SyntheticPreset> All { get; } =
    [
        new("mobilellm-125m", SyntheticModel.MobileLlm125M),
        new("mobilellm-350m", MobileLlm(960, 2560, 32, 15, 5)),
        new("mobilellm-600m", MobileLlm(1152, 3072, 40, 18, 6)),
        new("mobilellm-1b", MobileLlm(1280, 3584, 54, 20, 5)),
        new("mobilellm-1.5b", MobileLlm(1600, 4352, 54, 25, 5) with { Family = ModelFamily.Llama, Tied = false }),
        new("mobillama-0.5b", MobiLlama(2048, 5632, 2048)),
        new("mobillama-0.8b", MobiLlama(2560, 10240, 2560)),
        // Built as a full-MHA Llama (per-layer FFNs), then relabelled MobiLlama.
        new("mobillama-1b", MobiLlama(2048, 5632, 2048) with { Family = ModelFamily.Llama }, MobiLlamaWithPerLayerFfns: true),
        new("tiny-llama", new SyntheticSpec { Family = ModelFamily.Llama }),
        new("tiny-mobilellm", new SyntheticSpec { Family = ModelFamily.MobileLLM, Tied = true }),
        new("tiny-mobillama", new SyntheticSpec { Family = ModelFamily.MobiLlama, NumKvHeads = 4 }),
    ];

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static SyntheticPreset? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
}
