using System.Globalization;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>
/// The family rules that need the weights, not just config.json: whether MobiLlama's FFN is one
/// shared module, and what a MobileLLM share_embedding model's stored head was. Each returns the
/// import note that says what was decided. Bytes are compared through the IR tensors' sources, so
/// the rules hold for any weight container.
/// </summary>
internal static class HfFamilyDecisions
{
    /// <summary>Layer i's gate, up and down names (the roles MobiLlama shares).</summary>
    private static readonly Func<int, string>[] FfnParts = [.. TensorRoles.Ffn.Select(FfnPart)];
    private static readonly string Embedding = TensorNames.HuggingFace.Name(TensorRole.TokenEmbedding);
    private static readonly string Head = TensorNames.HuggingFace.Name(TensorRole.Output);

    /// <summary>
    /// MobiLlama's code builds one LlamaMLP and hands it to every block, so a file holds either layer
    /// 0's FFN alone or one copy per layer (05B: 22 identical copies); MobiLlama-1B ships distinct
    /// per-layer FFNs under the same architecture name and config. Only the bytes tell them apart:
    /// identical copies are left to DedupSharedTensors, distinct ones make an unshared model.
    /// </summary>
    public static string DecideSharedFfn(HfWeights weights, int layers, string dir)
    {
        bool Complete(int i) => FfnParts.All(p => weights.Contains(p(i)));
        if (!Enumerable.Range(1, Math.Max(0, layers - 1)).Any(i => FfnParts.Any(p => weights.Contains(p(i)))))
            return layers == 1 ? "FFN of the single block stored under model.layers.0.mlp.*"
                : $"FFN shared by all {layers} blocks: stored once under model.layers.0.mlp.*";
        int partial = Enumerable.Range(0, layers).FirstOrDefault(i => !Complete(i), -1);
        if (partial >= 0)
        {
            string name = FfnParts.Select(p => p(partial)).First(n => !weights.Contains(n));
            throw new HfConfigException(HfConfigError.SharedFfnMismatch, dir, name, "(absent)",
                $"MobiLlama FFN weights are stored for {Enumerable.Range(0, layers).Count(Complete)} of {layers} layers: neither one shared FFN nor one per layer");
        }
        for (int i = 1; i < layers; i++)
        {
            foreach (var part in FfnParts)
            {
                string? difference = Difference(weights, part(0), part(i));
                if (difference is not null)
                    return $"per-layer FFNs, not shared: {part(i)} differs from {part(0)} ({difference}), so each of the {layers} blocks keeps its own FFN";
            }
        }
        return $"FFN shared by all {layers} blocks: the {layers} per-layer copies are byte-identical (DedupSharedTensors stores one)";
    }

    /// <summary>
    /// MobileLLMForCausalLM with share_embedding computes logits with the embedding and never reads a
    /// stored lm_head.weight (the 1B and 1.5B files carry one): say that it was dropped, and whether it
    /// would have made a difference.
    /// </summary>
    public static string IgnoredHeadNote(HfResolvedConfig resolved, HfWeights weights)
    {
        var head = weights.GetTensor(Head);
        string? difference = Difference(weights, Embedding, Head);
        string verdict = difference is null ? "it is byte-identical to the embedding" : $"it differs from the embedding ({difference}) and would change the logits";
        return $"{resolved.Family.EmbeddingHeadFlag} true: logits use {Embedding} as {resolved.Family.Architecture} does; " +
               $"the stored {Head} ({head.Type.Info().Name} {Shapes.Format(head.Shape)}) is ignored and dropped: {verdict}";
    }

    private static Func<int, string> FfnPart(TensorRole role) => i => TensorNames.HuggingFace.Name(role, i);

    /// <summary>
    /// As <see cref="Difference(Tensor, Tensor)"/> for two stored names; names aliasing one torch storage
    /// view (MobiLlama-05B-Chat's FFN, a tied head) are the same bytes and are not read to be compared.
    /// </summary>
    private static string? Difference(HfWeights weights, string a, string b) =>
        weights.CanonicalName(a) == weights.CanonicalName(b) ? null : Difference(weights.GetTensor(a), weights.GetTensor(b));

    /// <summary>Why two tensors are not the same weight, or null when type, shape and every byte agree.</summary>
    private static string? Difference(Tensor a, Tensor b)
    {
        if (a.Type != b.Type) return $"element type {b.Type.Info().Name} vs {a.Type.Info().Name}";
        if (!a.Shape.AsSpan().SequenceEqual(b.Shape)) return $"shape {Shapes.Format(b.Shape)} vs {Shapes.Format(a.Shape)}";
        var left = a.Source.Read();
        var right = b.Source.Read();
        int common = left.CommonPrefixLength(right);
        return common == left.Length && left.Length == right.Length ? null
            : string.Create(CultureInfo.InvariantCulture, $"first differing byte at offset {common}");
    }
}
