using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>A pure IR transformation (DESIGN.md): it never edits its input and reports what it did.</summary>
public interface IPass
{
    /// <summary>The pass's name as reports print it.</summary>
    string Name { get; }
    /// <summary>Transforms <paramref name="ir"/> into a new IR (the input is not changed) and reports what changed.</summary>
    PassResult Run(ModelIr ir);
}

/// <summary>The IR a pass produced and its report.</summary>
/// <param name="Ir">The transformed IR.</param>
/// <param name="Report">What the pass did.</param>
public sealed record PassResult(ModelIr Ir, PassReport Report);

/// <summary>
/// What a pass did, for `convert`'s summary and `--json`. Notes are facts ("merged 21 FFN copies"),
/// warnings are things the user should act on ("tie_word_embeddings claims a tied head but ...").
/// </summary>
public sealed record PassReport(
    string Pass,
    bool Changed,
    IReadOnlyList<string> Notes,
    IReadOnlyList<string> Warnings,
    long StoredParametersBefore,
    long StoredParametersAfter,
    long StoredBytesBefore,
    long StoredBytesAfter)
{
    /// <summary>A report for a pass that changed nothing.</summary>
    public static PassReport Unchanged(string pass, ModelIr ir, params string[] notes) =>
        new(pass, false, notes, [], ir.StoredParameters, ir.StoredParameters, ir.StoredBytes, ir.StoredBytes);
}
