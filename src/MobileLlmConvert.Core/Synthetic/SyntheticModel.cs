using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Synthetic;

/// <summary>What to generate. Dimensions follow the Hugging Face config names.</summary>
public sealed record SyntheticSpec
{
    public required ModelFamily Family { get; init; }
    public int VocabSize { get; init; } = 320;
    public int HiddenSize { get; init; } = 64;
    public int IntermediateSize { get; init; } = 128;
    public int NumHeads { get; init; } = 4;
    public int NumKvHeads { get; init; } = 2;
    public int? HeadDim { get; init; }
    public int StoredLayers { get; init; } = 2;
    /// <summary>MobileLLM-LS: every stored block executes twice, immediately (0,0,1,1,...).</summary>
    public bool LayerSharing { get; init; }
    /// <summary>Head tied to the embedding (stored once).</summary>
    public bool Tied { get; init; }
    public ElementType DType { get; init; } = ElementType.F32;
    public ulong Seed { get; init; } = 1;
    /// <summary>
    /// Standard deviation of matrix weights. Larger than a trained model's 0.02 so that tiny random
    /// models have peaked next-token distributions and greedy decoding is not a coin toss.
    /// </summary>
    public float InitStd { get; init; } = 0.25f;
    public float RopeTheta { get; init; } = 10000f;
    public float RmsNormEps { get; init; } = 1e-5f;
    public int ContextLength { get; init; } = 512;

    public int ResolvedHeadDim => HeadDim ?? HiddenSize / NumHeads;
}

/// <summary>
/// Builds a deterministic random model of any family straight into the IR: the fixtures, the
/// full-size bench checkpoints and the unit tests of every layer all start here. Tensor keys come
/// from the caller's naming (Core knows no file format's names).
/// </summary>
public static class SyntheticModel
{
    public static readonly SyntheticSpec MobileLlm125M = new()
    {
        Family = ModelFamily.MobileLLM, VocabSize = 32000, HiddenSize = 576, IntermediateSize = 1536,
        NumHeads = 9, NumKvHeads = 3, HeadDim = 64, StoredLayers = 30, Tied = true, DType = ElementType.BF16,
        InitStd = 0.02f, ContextLength = 2048,
    };

    /// <summary>
    /// A random model for <paramref name="spec"/>, its tensors named by <paramref name="names"/> (pass
    /// Formats' Hugging Face column to get a checkpoint an HF writer can save as is). Tensors are drawn
    /// in execution order, each block's in role order, so a seed always gives the same bytes.
    /// </summary>
    public static ModelIr Create(SyntheticSpec spec, ITensorNaming names)
    {
        // One serial random stream over every value in creation order; each tensor starts where the
        // previous one ended (SplitMix64.At), so tensors are generated lazily, in any order, on any
        // number of threads, with the bytes of the serial stream.
        var rng = new DrawCursor(spec.Seed);
        var dims = Config(spec);
        int h = spec.HiddenSize;
        var tensors = new List<Tensor>();
        Tensor Matrix(string name, int rows, int cols, ref DrawCursor r) => Make(name, [rows, cols], spec.DType, spec.InitStd, ref r, norm: false);
        Tensor Norm(string name, ref DrawCursor r) => Make(name, [h], spec.DType, 0.1f, ref r, norm: true);

        string embedding = names.Name(TensorRole.TokenEmbedding);
        // The embedding is scaled up so hidden states have O(1) RMS before the first norm.
        tensors.Add(Make(embedding, [spec.VocabSize, h], spec.DType, 1.0f, ref rng, norm: false));
        bool sharedFfn = spec.Family == ModelFamily.MobiLlama;
        var steps = new List<LayerStep>();
        for (int i = 0; i < spec.StoredLayers; i++)
        {
            // MobiLlama: one FFN module shared by every block, stored under layer 0's names.
            int block = i;
            var step = LayerStep.FromRoles(role => names.Name(role, sharedFfn && TensorRoles.Ffn.Contains(role) ? 0 : block));
            foreach (var role in TensorRoles.Step)
            {
                if (sharedFfn && i > 0 && TensorRoles.Ffn.Contains(role)) continue;
                var shape = role.ExpectedShape(dims);
                tensors.Add(shape.Length == 1 ? Norm(step[role], ref rng) : Matrix(step[role], (int)shape[0], (int)shape[1], ref rng));
            }
            steps.Add(step);
            if (spec.LayerSharing) steps.Add(step);
        }
        string finalNorm = names.Name(TensorRole.OutputNorm);
        tensors.Add(Norm(finalNorm, ref rng));
        string output = embedding;
        if (!spec.Tied)
        {
            output = names.Name(TensorRole.Output);
            tensors.Add(Matrix(output, spec.VocabSize, h, ref rng));
        }

        var ir = new ModelIr
        {
            Config = dims with { ExecutedLayers = steps.Count },
            Tensors = tensors,
            Embedding = embedding,
            FinalNorm = finalNorm,
            Output = output,
            Steps = steps,
            Tokenizer = SyntheticVocab.Create(spec.VocabSize),
        };
        IrValidator.Validate(ir, "(synthetic)");
        return ir;
    }

    /// <summary>The config <paramref name="spec"/> describes, with one executed step per stored layer until the steps are built.</summary>
    private static ModelConfig Config(SyntheticSpec spec)
    {
        return new ModelConfig
        {
            Family = spec.Family,
            Architecture = spec.Family switch
            {
                ModelFamily.MobileLLM => "MobileLLMForCausalLM",
                ModelFamily.MobiLlama => "MobiLlamaForCausalLM",
                _ => "LlamaForCausalLM",
            },
            VocabSize = spec.VocabSize,
            HiddenSize = spec.HiddenSize,
            IntermediateSize = spec.IntermediateSize,
            NumHeads = spec.NumHeads,
            NumKvHeads = spec.NumKvHeads,
            HeadDim = spec.ResolvedHeadDim,
            StoredLayers = spec.StoredLayers,
            ExecutedLayers = spec.StoredLayers,
            RmsNormEps = spec.RmsNormEps,
            RopeTheta = spec.RopeTheta,
            ContextLength = spec.ContextLength,
            TieClaimFlag = spec.Tied ? (spec.Family == ModelFamily.MobileLLM ? "share_embedding" : "tie_word_embeddings") : null,
            BosTokenId = 1,
            EosTokenId = 2,
        };
    }

    /// <summary>Where the next tensor starts in the one random stream of a model: a count of <see cref="SplitMix64.NextGaussian"/> draws.</summary>
    private struct DrawCursor(ulong seed)
    {
        public readonly ulong Seed = seed;
        public ulong Draws;
    }

    /// <summary>
    /// A tensor whose values are draws [rng.Draws, rng.Draws + count) of the model's stream, made
    /// each time it is read (<see cref="SyntheticSource"/>): a full-size model costs no memory until
    /// written, and its bytes depend neither on the thread count nor on how it is read.
    /// </summary>
    private static Tensor Make(string name, long[] shape, ElementType type, float std, ref DrawCursor rng, bool norm)
    {
        long n = Shapes.ElementCount(shape);
        // Norm weights sit around 1 as trained RMSNorm weights do; matrices are centred on 0.
        var draws = new SyntheticDraws(rng.Seed, rng.Draws, std, norm);
        rng.Draws += (ulong)n;
        return new Tensor(name, shape, type, new SyntheticSource(n, type, draws));
    }
}
