using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>A pure IR transformation (DESIGN.md): it never edits its input and reports what it did.</summary>
public interface IPass
{
    string Name { get; }
    PassResult Run(ModelIr ir);
}

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
    public static PassReport Unchanged(string pass, ModelIr ir, params string[] notes) =>
        new(pass, false, notes, [], ir.StoredParameters, ir.StoredParameters, ir.StoredBytes, ir.StoredBytes);
}
