using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>
/// Ties the output head to the token embedding when, and only when, their bytes agree: a head that
/// is absent (Output already names the embedding) stays tied; a stored head of the same type and
/// shape that is byte-identical to the embedding is dropped and Output points at the embedding.
/// A head that differs stays untied whatever <see cref="ModelConfig.TieClaimFlag"/> claims, with a
/// warning naming the flag: a flag that tied an untied head produced gibberish in another tool
/// (https://github.com/microsoft/onnxruntime-genai/issues/2306), and one released MobileLLM file carries an lm_head next
/// to share_embedding.
/// </summary>
public sealed class TieEmbeddings : IPass
{
    /// <inheritdoc/>
    public string Name => "TieEmbeddings";

    /// <inheritdoc/>
    public PassResult Run(ModelIr ir)
    {
        string flag = ir.Config.TieClaimFlag is { } f ? $" (config {f}: true)" : "";
        if (ir.IsTied)
            return new(ir, PassReport.Unchanged(Name, ir, $"head already tied: no separate output head is stored, logits use {ir.Embedding}{flag}"));

        var emb = ir[ir.Embedding];
        var head = ir[ir.Output];
        string? difference = Difference(emb, head);
        if (difference is not null)
        {
            var warnings = ir.Config.TieClaimFlag is { } claim
                ? new[] { $"config flag {claim} claims a tied head, but {head.Name} differs from {emb.Name} ({difference}): kept untied, the flag is ignored" }
                : [];
            var report = PassReport.Unchanged(Name, ir, $"head untied: {head.Name} differs from {emb.Name} ({difference})") with { Warnings = warnings };
            return new(ir, report);
        }

        // Another use of the head's key (a hostile or odd IR) keeps the tensor stored; only the head is re-pointed.
        bool usedElsewhere = ir.Steps.Any(s => s.Keys.Contains(head.Name)) || ir.FinalNorm == head.Name;
        var tensors = usedElsewhere ? ir.Tensors : ir.Tensors.Where(t => t.Name != head.Name).ToList();
        var tied = ir with { Tensors = tensors, Output = ir.Embedding };
        string note = $"{head.Name} is byte-identical to {emb.Name}: tied the head to the embedding" +
                      (usedElsewhere ? $" ({head.Name} stays stored, a layer step also uses it)" :
                          $" and dropped {head.Name} ({TensorBytes.Count(head.ElementCount)} parameters, {TensorBytes.Count(head.ByteLength)} bytes)");
        return new(tied, new PassReport(Name, true, [note], [], ir.StoredParameters, tied.StoredParameters, ir.StoredBytes, tied.StoredBytes));
    }

    /// <summary>Why the head is not the embedding, or null when every byte agrees. Reads each tensor once.</summary>
    private static string? Difference(Tensor emb, Tensor head)
    {
        if (emb.Type != head.Type)
            return $"element type {head.Type.Info().Name} vs {emb.Type.Info().Name}";
        if (!emb.Shape.AsSpan().SequenceEqual(head.Shape))
            return $"shape {Shapes.Format(head.Shape)} vs {Shapes.Format(emb.Shape)}";
        // The embedding's bytes are materialized (if computed) before the head is read, so each is read once.
        var a = emb.Source.Read();
        long at = TensorBytes.FirstDifference(a, head.Source.Read());
        return at < 0 ? null : $"first differing byte at offset {at}";
    }
}
