using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;

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
/// full-size bench checkpoints and the unit tests of every layer all start here. Tensor keys are the
/// Hugging Face names, so an HF writer can save the IR as a checkpoint as-is.
/// </summary>
public static class SyntheticModel
{
    public static readonly SyntheticSpec MobileLlm125M = new()
    {
        Family = ModelFamily.MobileLLM, VocabSize = 32000, HiddenSize = 576, IntermediateSize = 1536,
        NumHeads = 9, NumKvHeads = 3, HeadDim = 64, StoredLayers = 30, Tied = true, DType = ElementType.BF16,
        InitStd = 0.02f, ContextLength = 2048,
    };

    public static ModelIr Create(SyntheticSpec spec)
    {
        var rng = new SplitMix64(spec.Seed);
        int hd = spec.ResolvedHeadDim;
        int h = spec.HiddenSize;
        var tensors = new List<Tensor>();
        Tensor Matrix(string name, int rows, int cols, ref SplitMix64 r) => Make(name, [rows, cols], spec.DType, spec.InitStd, ref r, norm: false);
        Tensor Norm(string name, ref SplitMix64 r) => Make(name, [h], spec.DType, 0.1f, ref r, norm: true);

        // The embedding is scaled up so hidden states have O(1) RMS before the first norm.
        tensors.Add(Make("model.embed_tokens.weight", [spec.VocabSize, h], spec.DType, 1.0f, ref rng, norm: false));
        bool sharedFfn = spec.Family == ModelFamily.MobiLlama;
        var steps = new List<LayerStep>();
        for (int i = 0; i < spec.StoredLayers; i++)
        {
            string p = $"model.layers.{i}.";
            tensors.Add(Norm(p + "input_layernorm.weight", ref rng));
            tensors.Add(Matrix(p + "self_attn.q_proj.weight", spec.NumHeads * hd, h, ref rng));
            tensors.Add(Matrix(p + "self_attn.k_proj.weight", spec.NumKvHeads * hd, h, ref rng));
            tensors.Add(Matrix(p + "self_attn.v_proj.weight", spec.NumKvHeads * hd, h, ref rng));
            tensors.Add(Matrix(p + "self_attn.o_proj.weight", h, spec.NumHeads * hd, ref rng));
            tensors.Add(Norm(p + "post_attention_layernorm.weight", ref rng));
            // MobiLlama: one FFN module shared by every block, stored under layer 0's names.
            string f = sharedFfn ? "model.layers.0." : p;
            if (!sharedFfn || i == 0)
            {
                tensors.Add(Matrix(f + "mlp.gate_proj.weight", spec.IntermediateSize, h, ref rng));
                tensors.Add(Matrix(f + "mlp.up_proj.weight", spec.IntermediateSize, h, ref rng));
                tensors.Add(Matrix(f + "mlp.down_proj.weight", h, spec.IntermediateSize, ref rng));
            }
            var step = new LayerStep(p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                p + "self_attn.v_proj.weight", p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight",
                f + "mlp.gate_proj.weight", f + "mlp.up_proj.weight", f + "mlp.down_proj.weight");
            steps.Add(step);
            if (spec.LayerSharing) steps.Add(step);
        }
        tensors.Add(Norm("model.norm.weight", ref rng));
        string output = "model.embed_tokens.weight";
        if (!spec.Tied)
        {
            tensors.Add(Matrix("lm_head.weight", spec.VocabSize, h, ref rng));
            output = "lm_head.weight";
        }

        var config = new ModelConfig
        {
            Family = spec.Family,
            Architecture = spec.Family switch
            {
                ModelFamily.MobileLLM => "MobileLLMForCausalLM",
                ModelFamily.MobiLlama => "MobiLlamaForCausalLM",
                _ => "LlamaForCausalLM",
            },
            VocabSize = spec.VocabSize,
            HiddenSize = h,
            IntermediateSize = spec.IntermediateSize,
            NumHeads = spec.NumHeads,
            NumKvHeads = spec.NumKvHeads,
            HeadDim = hd,
            StoredLayers = spec.StoredLayers,
            ExecutedLayers = steps.Count,
            RmsNormEps = spec.RmsNormEps,
            RopeTheta = spec.RopeTheta,
            ContextLength = spec.ContextLength,
            TieClaimFlag = spec.Tied ? (spec.Family == ModelFamily.MobileLLM ? "share_embedding" : "tie_word_embeddings") : null,
            BosTokenId = 1,
            EosTokenId = 2,
        };
        var ir = new ModelIr
        {
            Config = config,
            Tensors = tensors,
            Embedding = "model.embed_tokens.weight",
            FinalNorm = "model.norm.weight",
            Output = output,
            Steps = steps,
            Tokenizer = SyntheticVocab.Create(spec.VocabSize),
        };
        IrValidator.Validate(ir, "(synthetic)");
        return ir;
    }

    private static Tensor Make(string name, long[] shape, ElementType type, float std, ref SplitMix64 rng, bool norm)
    {
        int n = checked((int)Shapes.ElementCount(shape));
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            // Norm weights sit around 1 as trained RMSNorm weights do; matrices are centred on 0.
            values[i] = norm ? 1f + std * rng.NextGaussian() : std * rng.NextGaussian();
        }
        var bytes = new byte[checked(n * type.Info().BlockBytes)];
        FloatConvert.FromSingle(values, type, bytes);
        return new Tensor(name, shape, type, new MemorySource(bytes));
    }
}
