using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// Builds the model of a search state (the Quantize pass with the state's types assigned, so the bytes
/// are exactly what the conversion writes) and measures it end to end. Converted tensors are computed
/// once and kept while a state still uses them: a check that upgrades ten tensors quantizes ten.
/// </summary>
internal sealed class BudgetModels(ModelIr reference, BudgetOptions options, BudgetCandidates space)
{
    private Dictionary<(string Name, ElementType Type), Tensor> _cache = [];

    /// <summary>The policy of a state: the base policy with every searched tensor's type assigned.</summary>
    public QuantPolicy Policy(int[] state)
    {
        var assigned = new Dictionary<string, ElementType>(StringComparer.Ordinal);
        for (int i = 0; i < space.Count; i++) assigned[space.Name(i)] = space.Type(i, state[i]);
        return options.BasePolicy with { Assigned = assigned };
    }

    /// <summary>The reference with the state's types: converted tensors held in memory, the rest the reference's own (it owns the files).</summary>
    public ModelIr Build(int[] state)
    {
        var converted = new QuantizePass(Policy(state), options.Importance).Run(reference).Ir;
        var tensors = converted.Tensors.ToArray();
        var next = new Dictionary<(string, ElementType), Tensor>();
        var missing = new List<int>();
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = tensors[i];
            if (ReferenceEquals(t, reference.Tensors[i])) continue;
            if (_cache.TryGetValue((t.Name, t.Type), out var held)) tensors[i] = held;
            else missing.Add(i);
        }
        // Each tensor converts on its own (a pure function of the source), so converting them in parallel gives the same bytes.
        Parallel.ForEach(missing, new ParallelOptions { MaxDegreeOfParallelism = options.Executor.Threads }, i =>
        {
            var t = tensors[i];
            tensors[i] = new Tensor(t.Name, t.Shape, t.Type, new MemorySource(t.Source.ToArray()));
        });
        for (int i = 0; i < tensors.Length; i++)
        {
            if (!ReferenceEquals(tensors[i], reference.Tensors[i])) next[(tensors[i].Name, tensors[i].Type)] = tensors[i];
        }
        _cache = next;
        return converted with { Tensors = tensors };
    }

    /// <summary>Mean KL(reference ‖ state's model) over the evaluation tokens, in the evaluation windows (as `mlconvert diff` scores them).</summary>
    public double Measure(int[] state, IProgress<ConversionProgress>? progress)
    {
        var model = Build(state);
        var outcome = DiffEngine.Run("reference", reference, [new DiffCandidate("budget", model)], new DiffOptions
        {
            Tokens = options.Tokens, TextSource = options.TextSource, Context = options.Context, Executor = options.Executor,
        }, progress);
        return outcome.Result.Candidates[0].Kl.Mean;
    }
}
