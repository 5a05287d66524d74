using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// Pairs the reference's and a candidate's tensors by what they do, never by name (a Hugging Face
/// reference and a GGUF candidate name them differently): role i of step s in one is role i of step s
/// in the other, and embedding, final norm and head pair with each other. A candidate tensor that
/// serves several places (an LS block's two steps, MobiLlama's one FFN, a tied head) is one
/// <see cref="Swap"/> with every place it serves.
/// </summary>
internal static class TensorAttribution
{
    /// <summary>A place a tensor is used: step and role index into <see cref="LayerStep.Keys"/>, or step −1 with a global role.</summary>
    internal readonly record struct Place(int Step, int Role, Global Global);

    internal enum Global { None, Embedding, FinalNorm, Output }

    /// <summary>One stored tensor of the candidate whose type or bytes differ from the reference tensor(s) at its places.</summary>
    /// <param name="Candidate">The candidate's stored tensor.</param>
    /// <param name="Places">Every place it serves.</param>
    /// <param name="TypeRef">The reference tensor's element type name.</param>
    /// <param name="SameValues">Both float types holding the same values once converted to f32 (only the storage type differs).</param>
    internal sealed record Swap(Tensor Candidate, IReadOnlyList<Place> Places, string TypeRef, bool SameValues)
    {
        public IReadOnlyList<int> Steps => Places.Where(p => p.Step >= 0).Select(p => p.Step).Distinct().Order().ToArray();
        /// <summary>The first executed step whose output it can change (0 when the embedding is replaced: the run starts from the tokens).</summary>
        public int FirstStep(int stepCount) => Places.Any(p => p.Global == Global.Embedding) ? 0
            : Places.Where(p => p.Step >= 0).Select(p => p.Step).DefaultIfEmpty(stepCount).Min();
        public bool NeedsTokens => Places.Any(p => p.Global == Global.Embedding);
    }

    /// <summary>Why the two IRs cannot be paired tensor by tensor, or null.</summary>
    public static string? Incompatibility(ModelIr reference, ModelIr candidate)
    {
        if (reference.Steps.Count != candidate.Steps.Count) return $"{candidate.Steps.Count} executed steps, the reference has {reference.Steps.Count}";
        foreach (var (place, refKey, candKey) in Pairs(reference, candidate))
        {
            var r = reference[refKey];
            var c = candidate[candKey];
            if (!r.Shape.SequenceEqual(c.Shape))
                return $"tensor {c.Name} has shape {Shapes.Format(c.Shape)} where the reference's {r.Name} has {Shapes.Format(r.Shape)}";
        }
        return null;
    }

    /// <summary>Every candidate tensor that differs in type or bytes from the reference at one of its places, in the candidate's order of first use.</summary>
    public static IReadOnlyList<Swap> Differences(ModelIr reference, ModelIr candidate)
    {
        var places = new Dictionary<string, List<(Place Place, string RefKey)>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (place, refKey, candKey) in Pairs(reference, candidate))
        {
            if (!places.TryGetValue(candKey, out var list))
            {
                places[candKey] = list = [];
                order.Add(candKey);
            }
            list.Add((place, refKey));
        }
        var swaps = new List<Swap>();
        foreach (var key in order)
        {
            var cand = candidate[key];
            var uses = places[key];
            bool differs = uses.Any(u => Differs(reference[u.RefKey], cand));
            if (!differs) continue;
            string typeRef = string.Join('/', uses.Select(u => reference[u.RefKey].Type.Info().Name).Distinct());
            bool same = uses.All(u => SameFloatValues(reference[u.RefKey], cand));
            swaps.Add(new Swap(cand, uses.Select(u => u.Place).ToArray(), typeRef, same));
        }
        return swaps;
    }

    /// <summary>The reference with <paramref name="swap"/>'s tensor at every place it serves; every other tensor is the reference's.</summary>
    public static ModelIr Apply(ModelIr reference, Swap swap)
    {
        string name = "diff.candidate/" + swap.Candidate.Name;
        while (reference.TryGetTensor(name, out _)) name += "'";
        var steps = reference.Steps.Select(s => s.Keys.ToArray()).ToArray();
        string embedding = reference.Embedding, finalNorm = reference.FinalNorm, output = reference.Output;
        foreach (var p in swap.Places)
        {
            switch (p.Global)
            {
                case Global.Embedding: embedding = name; break;
                case Global.FinalNorm: finalNorm = name; break;
                case Global.Output: output = name; break;
                default: steps[p.Step][p.Role] = name; break;
            }
        }
        // The swapped-in tensor lives in the candidate's files; the variant shares the reference's
        // resources and is never disposed itself (the caller disposes both models).
        return reference with
        {
            Tensors = [.. reference.Tensors, swap.Candidate.WithName(name)],
            Steps = steps.Select(k => new LayerStep(k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8])).ToArray(),
            Embedding = embedding, FinalNorm = finalNorm, Output = output,
        };
    }

    /// <summary>
    /// The stored block each step runs, numbered in order of first use: steps naming exactly the same
    /// tensors run the same block (an LS model's steps 2 and 3 run block 1); any differing key makes a new block.
    /// </summary>
    public static IReadOnlyList<int> StoredBlocks(ModelIr ir)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        return ir.Steps.Select(s =>
        {
            string id = string.Join('\n', s.Keys);
            if (!seen.TryGetValue(id, out int block)) seen[id] = block = seen.Count;
            return block;
        }).ToArray();
    }

    private static IEnumerable<(Place Place, string RefKey, string CandKey)> Pairs(ModelIr reference, ModelIr candidate)
    {
        yield return (new Place(-1, -1, Global.Embedding), reference.Embedding, candidate.Embedding);
        for (int s = 0; s < reference.Steps.Count; s++)
        {
            var r = reference.Steps[s].Keys.ToArray();
            var c = candidate.Steps[s].Keys.ToArray();
            for (int i = 0; i < r.Length; i++) yield return (new Place(s, i, Global.None), r[i], c[i]);
        }
        yield return (new Place(-1, -1, Global.FinalNorm), reference.FinalNorm, candidate.FinalNorm);
        yield return (new Place(-1, -1, Global.Output), reference.Output, candidate.Output);
    }

    private static bool SameFloatValues(Tensor r, Tensor c)
    {
        if (r.Type.Info().IsQuantized || c.Type.Info().IsQuantized) return false;
        var a = FloatConvert.ToSingleArray(r);
        var b = FloatConvert.ToSingleArray(c);
        // Bit patterns, not ==: -0 and +0 or two NaNs must not pass for one another.
        return MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.AsSpan()));
    }

    private static bool Differs(Tensor r, Tensor c) =>
        r.Type != c.Type || r.ByteLength != c.ByteLength || !r.Source.Read().SequenceEqual(c.Source.Read());
}
