using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// The weights of one executed step. Two steps that name the same stored tensor hold the same
/// <see cref="WeightMatrix"/> object (MobileLLM-LS repeats, MobiLlama's one FFN). Shapes use the
/// config names: hidden, heads·hd (query width), kv_heads·hd (kv width), intermediate.
/// </summary>
internal sealed class LayerWeights
{
    public required float[] AttnNorm { get; init; }   // [hidden]
    public required WeightMatrix Q { get; init; }     // [heads*hd, hidden]
    public required WeightMatrix K { get; init; }     // [kv_heads*hd, hidden]
    public required WeightMatrix V { get; init; }     // [kv_heads*hd, hidden]
    public required WeightMatrix O { get; init; }     // [hidden, heads*hd]
    public required float[] FfnNorm { get; init; }    // [hidden]
    public required WeightMatrix Gate { get; init; }  // [intermediate, hidden]
    public required WeightMatrix Up { get; init; }    // [intermediate, hidden]
    public required WeightMatrix Down { get; init; }  // [hidden, intermediate]
}

/// <summary>Every weight the forward pass reads: one object per stored tensor, referenced by the steps.</summary>
internal sealed class ModelWeights
{
    public required WeightMatrix Embedding { get; init; }  // [vocab, hidden]
    public required float[] FinalNorm { get; init; }       // [hidden]
    public required WeightMatrix Output { get; init; }     // [vocab, hidden]; the Embedding object when tied
    public required LayerWeights[] Steps { get; init; }    // one per executed step
    /// <summary>Distinct matrix objects (each stored matrix once).</summary>
    public required int DistinctMatrices { get; init; }

    public static ModelWeights Load(ModelIr ir)
    {
        var matrices = new Dictionary<string, WeightMatrix>(StringComparer.Ordinal);
        var vectors = new Dictionary<string, float[]>(StringComparer.Ordinal);
        WeightMatrix M(string key)
        {
            if (!matrices.TryGetValue(key, out var m)) matrices[key] = m = new WeightMatrix(ir[key]);
            return m;
        }
        float[] Vec(string key)
        {
            // Norm weights are vectors of `hidden` values: converting them once costs nothing.
            if (!vectors.TryGetValue(key, out var v)) vectors[key] = v = ReadVector(ir[key]);
            return v;
        }
        var steps = ir.Steps.Select(s => new LayerWeights
        {
            AttnNorm = Vec(s.AttnNorm), Q = M(s.Q), K = M(s.K), V = M(s.V), O = M(s.O),
            FfnNorm = Vec(s.FfnNorm), Gate = M(s.Gate), Up = M(s.Up), Down = M(s.Down),
        }).ToArray();
        var embedding = M(ir.Embedding);
        var output = M(ir.Output);
        var finalNorm = Vec(ir.FinalNorm);
        return new ModelWeights { Embedding = embedding, FinalNorm = finalNorm, Output = output, Steps = steps, DistinctMatrices = matrices.Count };
    }

    internal static float[] ReadVector(Tensor t)
    {
        var result = new float[checked((int)t.ElementCount)];
        if (t.Type.Info().IsQuantized) QuantOps.Dequantize(t.Type, t.Source.Read(), result);
        else FloatConvert.ToSingle(t.Source.Read(), t.Type, result);
        return result;
    }
}
