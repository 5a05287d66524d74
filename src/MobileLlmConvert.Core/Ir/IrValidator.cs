using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// Checks that the config and the tensor table agree: every key a step names exists, every shape is
/// the one the config implies. Importers call it so a config that lies about a dimension is reported
/// against the file it came from, not discovered as a crash in the executor.
/// </summary>
public static class IrValidator
{
    public static void Validate(ModelIr ir, string file)
    {
        var c = ir.Config;
        Positive(file, "hidden_size", c.HiddenSize);
        Positive(file, "intermediate_size", c.IntermediateSize);
        Positive(file, "num_attention_heads", c.NumHeads);
        Positive(file, "num_key_value_heads", c.NumKvHeads);
        Positive(file, "head_dim", c.HeadDim);
        Positive(file, "vocab_size", c.VocabSize);
        Positive(file, "num_hidden_layers", c.StoredLayers);
        if (c.NumHeads % c.NumKvHeads != 0)
            throw new IrException(IrError.BadConfig, file, "num_key_value_heads", c.NumKvHeads.ToString(), $"must divide num_attention_heads ({c.NumHeads})");
        if (c.HeadDim % 2 != 0)
            throw new IrException(IrError.BadConfig, file, "head_dim", c.HeadDim.ToString(), "RoPE needs an even head dimension");
        if (!(c.RmsNormEps > 0) || !float.IsFinite(c.RmsNormEps))
            throw new IrException(IrError.BadConfig, file, "rms_norm_eps", c.RmsNormEps.ToString("R"), "must be a positive finite number");
        if (!(c.RopeTheta > 0) || !float.IsFinite(c.RopeTheta))
            throw new IrException(IrError.BadConfig, file, "rope_theta", c.RopeTheta.ToString("R"), "must be a positive finite number");
        if (ir.Steps.Count != c.ExecutedLayers)
            throw new IrException(IrError.BadConfig, file, "num_hidden_layers", c.ExecutedLayers.ToString(), $"IR has {ir.Steps.Count} executed steps");

        foreach (var (role, _, key) in TensorRoles.Uses(ir)) Expect(ir, file, key, role.ExpectedShape(c));
        if (ir.Tokenizer is { } tok && tok.Count != c.VocabSize)
            throw new IrException(IrError.TokenizerMismatch, file, "vocab_size", c.VocabSize.ToString(), $"tokenizer has {tok.Count} pieces");
    }

    private static void Positive(string file, string field, int value)
    {
        if (value <= 0) throw new IrException(IrError.BadConfig, file, field, value.ToString(), "must be a positive integer");
    }

    private static void Expect(ModelIr ir, string file, string key, long[] shape)
    {
        if (!ir.TryGetTensor(key, out var t))
            throw new IrException(IrError.MissingTensor, file, key, "(absent)", "tensor required by the config is missing");
        if (!t.Shape.AsSpan().SequenceEqual(shape))
            throw new IrException(IrError.ShapeMismatch, file, key, Shapes.Format(t.Shape), $"config implies {Shapes.Format(shape)}");
    }
}
