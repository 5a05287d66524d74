using System.Globalization;
using MobileLlmConvert.Core.Ir;
using Onnx;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// The profile-independent decoder graph: the model inputs and outputs ONNX Runtime GenAI expects
/// (onnxruntime-genai src/models/model.cpp and docs/config.md: input_ids, attention_mask, position_ids,
/// past_key_values.{i}.key|value in; logits, present.{i}.key|value out) and the layer loop, with the
/// pieces appended by an <see cref="IOnnxProfile"/>. One cache pair per EXECUTED step: an LS model has
/// twice as many as it stores blocks, yet each shared tensor is one initializer.
/// </summary>
internal static class OnnxGraph
{
    /// <summary>Model input: token ids, int64 [batch, seq].</summary>
    public const string InputIds = "input_ids";
    /// <summary>Model input: int64 [batch, total] with 1 for every past and current token to attend to.</summary>
    public const string AttentionMask = "attention_mask";
    /// <summary>Model input: positions of the current tokens, int64 [batch, seq].</summary>
    public const string PositionIds = "position_ids";
    /// <summary>Model output: float [batch, seq, vocab].</summary>
    public const string Logits = "logits";

    /// <summary>Symbolic dimension names, as GenAI's exports spell them.</summary>
    public const string Batch = "batch_size", Sequence = "sequence_length", Total = "total_sequence_length", Past = "past_sequence_length";

    /// <summary>Cache input of executed step <paramref name="step"/>: past_key_values.{step}.key.</summary>
    public static string PastKey(int step) => "past_key_values." + Index(step) + ".key";
    /// <summary>Cache input of executed step <paramref name="step"/>: past_key_values.{step}.value.</summary>
    public static string PastValue(int step) => "past_key_values." + Index(step) + ".value";
    /// <summary>Cache output of executed step <paramref name="step"/>: present.{step}.key.</summary>
    public static string PresentKey(int step) => "present." + Index(step) + ".key";
    /// <summary>Cache output of executed step <paramref name="step"/>: present.{step}.value.</summary>
    public static string PresentValue(int step) => "present." + Index(step) + ".value";

    /// <summary>
    /// For every executed step, the stored block index of each per-step role (in <see cref="TensorRoles.Step"/>
    /// order): a role's distinct tensor keys are numbered by first use. LS: steps 2i and 2i+1 give block i;
    /// MobiLlama: every step's gate/up/down give block 0. Recorded as `mlconvert.steps`.
    /// </summary>
    public static int[][] StepBlocks(ModelIr ir)
    {
        var blocks = new Dictionary<string, int>[TensorRoles.Step.Count];
        for (int r = 0; r < blocks.Length; r++) blocks[r] = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new int[ir.Steps.Count][];
        for (int s = 0; s < ir.Steps.Count; s++)
        {
            result[s] = new int[TensorRoles.Step.Count];
            for (int r = 0; r < TensorRoles.Step.Count; r++)
            {
                var seen = blocks[r];
                string key = ir.Steps[s][TensorRoles.Step[r]];
                if (!seen.TryGetValue(key, out int block)) seen.Add(key, block = seen.Count);
                result[s][r] = block;
            }
        }
        return result;
    }

    /// <summary>
    /// The base initializer name of every stored tensor the model uses: the ONNX column of
    /// <see cref="TensorNames"/> for the tensor's first use (role, stored block from <see cref="StepBlocks"/>).
    /// A tied head takes the embedding's name: it is the same tensor.
    /// </summary>
    public static IReadOnlyDictionary<string, string> WeightNames(ModelIr ir)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        void Name(string key, string name)
        {
            if (names.ContainsKey(key)) return;
            if (!taken.Add(name)) throw new InvalidOperationException($"ONNX name {name} would store two tensors");
            names.Add(key, name);
        }
        Name(ir.Embedding, TensorNames.Onnx.Name(TensorRole.TokenEmbedding));
        var blocks = StepBlocks(ir);
        for (int s = 0; s < ir.Steps.Count; s++)
        {
            for (int r = 0; r < TensorRoles.Step.Count; r++)
            {
                var role = TensorRoles.Step[r];
                Name(ir.Steps[s][role], TensorNames.Onnx.Name(role, blocks[s][r]));
            }
        }
        Name(ir.FinalNorm, TensorNames.Onnx.Name(TensorRole.OutputNorm));
        Name(ir.Output, TensorNames.Onnx.Name(TensorRole.Output));
        return names;
    }

    /// <summary>
    /// Builds the decoder graph of <paramref name="ir"/> with <paramref name="profile"/>: embedding, for
    /// each executed step RMSNorm, q/k/v, attention with the step's own past/present, o, residual +
    /// RMSNorm, gate/up, SiLU(gate) * up, down, residual + (next step's or the final) RMSNorm; then the head.
    /// </summary>
    public static OnnxGraphBuilder Build(ModelIr ir, IOnnxProfile profile)
    {
        var c = ir.Config;
        if (ir.Steps.Count == 0) throw new InvalidOperationException("an ONNX decoder needs at least one layer step");
        var g = new OnnxGraphBuilder(WeightNames(ir));
        const TensorProto.Types.DataType I64 = TensorProto.Types.DataType.Int64, F32 = TensorProto.Types.DataType.Float;
        var ctx = new OnnxModelContext(c,
            g.Input(InputIds, I64, Batch, Sequence),
            g.Input(AttentionMask, I64, Batch, Total),
            g.Input(PositionIds, I64, Batch, Sequence));
        var past = new OnnxPastKv[ir.Steps.Count];
        for (int i = 0; i < past.Length; i++)
        {
            past[i] = new OnnxPastKv(
                g.Input(PastKey(i), F32, Batch, (long)c.NumKvHeads, Past, (long)c.HeadDim),
                g.Input(PastValue(i), F32, Batch, (long)c.NumKvHeads, Past, (long)c.HeadDim));
        }

        string residual, normed;
        using (g.Scope("model.embed_tokens"))
            residual = profile.Embedding(g, ctx, ir[ir.Embedding]);
        using (g.Scope("model.layers.0.input_layernorm"))
            normed = profile.RmsNorm(g, residual, ir[ir.Steps[0].AttnNorm], c.RmsNormEps);

        for (int i = 0; i < ir.Steps.Count; i++)
        {
            var step = ir.Steps[i];
            string layer = "model.layers." + Index(i);
            string attnOut;
            using (g.Scope(layer + ".attn"))
            {
                string q = profile.Linear(g, normed, ir[step.Q]);
                string k = profile.Linear(g, normed, ir[step.K]);
                string v = profile.Linear(g, normed, ir[step.V]);
                var attn = profile.Attention(g, ctx, q, k, v, past[i]);
                g.Output(PresentKey(i), attn.PresentKey, F32, Batch, (long)c.NumKvHeads, Total, (long)c.HeadDim);
                g.Output(PresentValue(i), attn.PresentValue, F32, Batch, (long)c.NumKvHeads, Total, (long)c.HeadDim);
                attnOut = profile.Linear(g, attn.Output, ir[step.O]);
            }
            using (g.Scope(layer + ".post_attention_layernorm"))
                (residual, normed) = profile.AddRmsNorm(g, residual, attnOut, ir[step.FfnNorm], c.RmsNormEps);
            string down;
            using (g.Scope(layer + ".mlp"))
            {
                string gate = profile.Linear(g, normed, ir[step.Gate]);
                string up = profile.Linear(g, normed, ir[step.Up]);
                // SiLU(gate) * up in standard ops, as both profiles need it (SiLU(x) = x * sigmoid(x)).
                string silu = g.Op("Mul", [gate, g.Op("Sigmoid", [gate])]);
                down = profile.Linear(g, g.Op("Mul", [silu, up]), ir[step.Down]);
            }
            bool last = i == ir.Steps.Count - 1;
            string nextNorm = last ? ir.FinalNorm : ir.Steps[i + 1].AttnNorm;
            using (g.Scope(last ? "model.norm" : "model.layers." + Index(i + 1) + ".input_layernorm"))
                (residual, normed) = profile.AddRmsNorm(g, residual, down, ir[nextNorm], c.RmsNormEps);
        }

        string logits;
        using (g.Scope("lm_head"))
            logits = profile.Linear(g, normed, ir[ir.Output]);
        g.Output(Logits, logits, F32, Batch, Sequence, (long)c.VocabSize);
        return g;
    }

    private static string Index(int i) => i.ToString(CultureInfo.InvariantCulture);
}
