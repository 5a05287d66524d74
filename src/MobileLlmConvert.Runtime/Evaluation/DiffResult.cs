// src/MobileLlmConvert.Runtime/Evaluation/DiffResult.cs — the data `diff` produces and the report renders.
// `diff` creates this file exactly; `report` creates the same file on its branch (identical content),
// so the merge is clean. Change it only by adding members, and say so in your report.
namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>The whole outcome of one `mlconvert diff` run.</summary>
public sealed record DiffResult(
    string Reference,                      // path as given
    string TextSource,                     // file path, "--tokens", or the default text's name
    int TokensScored,                      // positions scored (every position of every window)
    int Context,                           // window length used
    IReadOnlyList<CandidateDiff> Candidates);

public sealed record CandidateDiff(
    string Model,                          // path as given
    KlStats Kl,
    double Top1Agreement,                  // 0..1
    DeltaP DeltaP,                         // p_cand(true next) - p_ref(true next)
    Perplexity Ppl,
    double MeanKlCi95Low, double MeanKlCi95High,
    double[] KlPerPosition,                // for the histogram; length == TokensScored
    IReadOnlyList<WorstPosition> Worst,    // largest KL first
    int? FirstGreedyDivergence,            // --generate N: step where greedy decoding first differs, null if none / not asked
    IReadOnlyList<LayerError>? Layers,     // --per-layer
    IReadOnlyList<TensorDelta>? Tensors,   // --per-tensor, ranked by DeltaKl descending
    bool? Passed);                         // null when no gate was given

public sealed record KlStats(double Mean, double P50, double P90, double P99, double P999, double Max);
public sealed record DeltaP(double Mean, double Rms);
public sealed record Perplexity(double Reference, double Candidate) { public double LogRatio => Math.Log(Candidate / Reference); }
public sealed record WorstPosition(int Position, double Kl, string Context, string RefToken, string CandToken);
/// <summary>Step = 0-based index in execution order; StoredBlock = the stored block it runs (LS: block 1 serves steps 2 and 3).</summary>
public sealed record LayerError(int Step, int StoredBlock, double RelError, double Cosine);
/// <summary>One stored tensor of the candidate that differs from the reference; Steps it serves (empty for embedding/head/final norm).</summary>
public sealed record TensorDelta(string Name, string TypeRef, string TypeCand, IReadOnlyList<int> Steps, double DeltaKl);
