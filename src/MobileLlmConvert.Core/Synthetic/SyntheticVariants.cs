using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Synthetic;

/// <summary>
/// Checkpoints as other tools export them, built from <see cref="SyntheticModel"/> by pure IR -> IR
/// steps: the sharing fixtures of issue 3. Every result passes <see cref="IrValidator"/>; new tensors
/// are named by the caller's <see cref="ITensorNaming"/> (Formats' Hugging Face column, so an HF writer
/// can save the result as is). Copies are real copies (their own
/// bytes), as they are in the files these variants imitate.
/// </summary>
public static class SyntheticVariants
{
    /// <summary>(a) default: a tiny MobileLLM-LS, 2 stored blocks executed as 4 steps, tied head.</summary>
    public static readonly SyntheticSpec LayerSharedSpec = new() { Family = ModelFamily.MobileLLM, StoredLayers = 2, LayerSharing = true, Tied = true, Seed = 31 };
    /// <summary>(b) default: a tiny MobiLlama, 3 blocks, one FFN, MHA, untied head.</summary>
    public static readonly SyntheticSpec MobiLlamaSpec = new() { Family = ModelFamily.MobiLlama, StoredLayers = 3, NumHeads = 4, NumKvHeads = 4, Seed = 32 };
    /// <summary>(c) default: the GQA Llama (4 heads, 2 kv heads) that repeat_kv turns into MHA.</summary>
    public static readonly SyntheticSpec GqaLlamaSpec = new() { Family = ModelFamily.Llama, StoredLayers = 2, NumHeads = 4, NumKvHeads = 2, Seed = 33 };
    /// <summary>(d) default: an untied Llama.</summary>
    public static readonly SyntheticSpec UntiedLlamaSpec = new() { Family = ModelFamily.Llama, StoredLayers = 2, Tied = false, Seed = 34 };
    /// <summary>(e) default: a tiny tied MobileLLM.</summary>
    public static readonly SyntheticSpec MobileLlmSpec = new() { Family = ModelFamily.MobileLLM, StoredLayers = 2, Tied = true, Seed = 35 };

    /// <summary>
    /// (a) An LS model exported with every block copied: executed step s gets its own copy of its
    /// block under model.layers.{s}.*, the config stores as many blocks as it executes, no sharing.
    /// </summary>
    public static ModelIr LayerSharedWithCopiedBlocks(ITensorNaming names, SyntheticSpec? spec = null) =>
        UnshareSteps(SyntheticModel.Create((spec ?? LayerSharedSpec) with { LayerSharing = true }, names), names);

    /// <summary>(b) A MobiLlama whose one FFN is stored as identical copies under every layer's mlp names.</summary>
    public static ModelIr MobiLlamaWithFfnCopies(ITensorNaming names, SyntheticSpec? spec = null) =>
        UnshareSteps(SyntheticModel.Create((spec ?? MobiLlamaSpec) with { Family = ModelFamily.MobiLlama }, names), names);

    /// <summary>(c) An MHA model made from a GQA one by repeat_kv: every kv head repeated H/KV times, n_kv = n_heads.</summary>
    public static ModelIr MhaFromGqa(ITensorNaming names, SyntheticSpec? spec = null) => RepeatKvHeads(SyntheticModel.Create(spec ?? GqaLlamaSpec, names));

    /// <summary>(d) An untied Llama whose config claims tie_word_embeddings while lm_head differs from the embedding.</summary>
    public static ModelIr UntiedClaimingTie(ITensorNaming names, SyntheticSpec? spec = null) =>
        ClaimTie(SyntheticModel.Create((spec ?? UntiedLlamaSpec) with { Tied = false }, names), "tie_word_embeddings");

    /// <summary>(e) A MobileLLM (share_embedding) that also stores an lm_head.weight byte-equal to the embedding.</summary>
    public static ModelIr MobileLlmWithStoredHead(ITensorNaming names, SyntheticSpec? spec = null) =>
        StoreHeadCopy(SyntheticModel.Create((spec ?? MobileLlmSpec) with { Family = ModelFamily.MobileLLM, Tied = true }, names), names);

    /// <summary>
    /// MobiLlama-1B's layout: the MobiLlama architecture and config, but every block with its own,
    /// distinct FFN. Built from a full-MHA Llama (per-layer FFNs, RoPE base 10000) by relabelling
    /// the family, so the weights are exactly what a plain MHA Llama with the same seed computes.
    /// </summary>
    public static ModelIr AsMobiLlamaWithPerLayerFfns(ModelIr mhaLlama)
    {
        var c = mhaLlama.Config;
        if (c.Family != ModelFamily.Llama || c.NumKvHeads != c.NumHeads || c.RopeTheta != 10000f)
            throw new ArgumentException("needs a full-MHA Llama with RoPE base 10000", nameof(mhaLlama));
        return Checked(mhaLlama with { Config = c with { Family = ModelFamily.MobiLlama, Architecture = "MobiLlamaForCausalLM" } });
    }

    /// <summary>
    /// Gives every executed step its own copy of each tensor it uses, named as block {step} by <paramref name="names"/>;
    /// embedding, final norm and head stay as they are. StoredLayers becomes the step count.
    /// </summary>
    public static ModelIr UnshareSteps(ModelIr ir, ITensorNaming names)
    {
        var tensors = new List<Tensor> { Copy(ir[ir.Embedding], ir.Embedding) };
        var steps = new List<LayerStep>();
        for (int s = 0; s < ir.Steps.Count; s++)
        {
            int block = s;
            var step = LayerStep.FromRoles(role => names.Name(role, block));
            foreach (var (from, to) in ir.Steps[s].Keys.Zip(step.Keys)) tensors.Add(Copy(ir[from], to));
            steps.Add(step);
        }
        tensors.Add(Copy(ir[ir.FinalNorm], ir.FinalNorm));
        if (!ir.IsTied) tensors.Add(Copy(ir[ir.Output], ir.Output));
        return Checked(ir with
        {
            Tensors = tensors,
            Steps = steps,
            Config = ir.Config with { StoredLayers = steps.Count },
            // Every tensor is an in-memory copy: the result does not depend on the input's mapped files.
            Resources = new ResourceBag(),
        });
    }

    /// <summary>
    /// What transformers' repeat_kv does to a GQA checkpoint, written out as weights: K and V of
    /// every step get n_heads heads, head h being old head h / (H/KV); n_kv becomes n_heads.
    /// </summary>
    public static ModelIr RepeatKvHeads(ModelIr ir)
    {
        var c = ir.Config;
        int group = c.KvGroup;
        var kv = ir.Steps.SelectMany(s => new[] { s.K, s.V }).ToHashSet(StringComparer.Ordinal);
        var tensors = ir.Tensors.Select(t =>
        {
            if (!kv.Contains(t.Name)) return t;
            var src = t.Source.Read();
            int headBytes = checked((int)(t.ByteLength / c.NumKvHeads));
            var bytes = new byte[checked(headBytes * c.NumHeads)];
            for (int h = 0; h < c.NumHeads; h++) src.Slice(h / group * headBytes, headBytes).CopyTo(bytes.AsSpan(h * headBytes));
            var shape = t.Shape.ToArray();
            shape[0] = (long)c.NumHeads * c.HeadDim;
            return new Tensor(t.Name, shape, t.Type, new MemorySource(bytes));
        }).ToList();
        return Checked(ir with { Tensors = tensors, Config = c with { NumKvHeads = c.NumHeads } });
    }

    /// <summary>Sets the config's tie claim without touching any tensor.</summary>
    public static ModelIr ClaimTie(ModelIr ir, string flag) => Checked(ir with { Config = ir.Config with { TieClaimFlag = flag } });

    /// <summary>A tied model that also stores a head (named by <paramref name="names"/>), a byte copy of the embedding.</summary>
    public static ModelIr StoreHeadCopy(ModelIr ir, ITensorNaming names)
    {
        if (!ir.IsTied) throw new ArgumentException("StoreHeadCopy needs a tied model", nameof(ir));
        string head = names.Name(TensorRole.Output);
        return Checked(ir with { Tensors = [.. ir.Tensors, Copy(ir[ir.Embedding], head)], Output = head });
    }

    private static Tensor Copy(Tensor t, string name) => new(name, t.Shape.ToArray(), t.Type, new MemorySource(t.Source.ToArray()));

    private static ModelIr Checked(ModelIr ir)
    {
        IrValidator.Validate(ir, "(synthetic variant)");
        return ir;
    }
}
