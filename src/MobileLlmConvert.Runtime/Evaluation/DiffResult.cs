// The data `mlconvert diff` produces (Runtime.Evaluation) and the HTML report renders (Reports).
namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>The whole outcome of one `mlconvert diff` run.</summary>
/// <param name="Reference">The reference model's path as given.</param>
/// <param name="TextSource">The text scored: a file path, "--tokens", or the default text's name.</param>
/// <param name="TokensScored">Positions scored (every position of every window).</param>
/// <param name="Context">The window length used.</param>
/// <param name="Candidates">One entry per candidate, in the order given.</param>
public sealed record DiffResult(
    string Reference,
    string TextSource,
    int TokensScored,
    int Context,
    IReadOnlyList<CandidateDiff> Candidates);

/// <summary>How far one candidate is from the reference, and where.</summary>
/// <param name="Model">The candidate's path as given.</param>
/// <param name="Kl">KL(reference || candidate) statistics over the scored positions, in nats.</param>
/// <param name="Top1Agreement">Fraction (0..1) of positions where both models rank the same token first.</param>
/// <param name="DeltaP">p_cand(true next token) - p_ref(true next token).</param>
/// <param name="Ppl">Perplexity of both models on the text.</param>
/// <param name="MeanKlCi95Low">Lower end of the 95% confidence interval of the mean KL.</param>
/// <param name="MeanKlCi95High">Upper end of the 95% confidence interval of the mean KL.</param>
/// <param name="KlPerPosition">KL at every scored position (length <see cref="DiffResult.TokensScored"/>), for the histogram.</param>
/// <param name="Worst">The positions with the largest KL, largest first.</param>
/// <param name="FirstGreedyDivergence">With --generate N: the first step where greedy decoding differs; null if none or not asked.</param>
/// <param name="Layers">With --per-layer: the error of the residual stream after each executed step.</param>
/// <param name="Tensors">With --per-tensor: the KL each differing tensor adds alone, largest first.</param>
/// <param name="Passed">Whether the candidate passed the gates; null when no gate was given.</param>
public sealed record CandidateDiff(
    string Model,
    KlStats Kl,
    double Top1Agreement,
    DeltaP DeltaP,
    Perplexity Ppl,
    double MeanKlCi95Low, double MeanKlCi95High,
    double[] KlPerPosition,
    IReadOnlyList<WorstPosition> Worst,
    int? FirstGreedyDivergence,
    IReadOnlyList<LayerError>? Layers,
    IReadOnlyList<TensorDelta>? Tensors,
    bool? Passed);

/// <summary>Distribution of the per-position KL divergence, in nats.</summary>
/// <param name="Mean">Mean over positions.</param>
/// <param name="P50">Median.</param>
/// <param name="P90">90th percentile.</param>
/// <param name="P99">99th percentile.</param>
/// <param name="P999">99.9th percentile.</param>
/// <param name="Max">Largest value.</param>
public sealed record KlStats(double Mean, double P50, double P90, double P99, double P999, double Max);

/// <summary>Change of the probability given to the true next token, candidate minus reference.</summary>
/// <param name="Mean">Mean change.</param>
/// <param name="Rms">Root mean square of the change.</param>
public sealed record DeltaP(double Mean, double Rms);

/// <summary>Perplexity of the reference and the candidate on the scored text.</summary>
/// <param name="Reference">The reference's perplexity.</param>
/// <param name="Candidate">The candidate's perplexity.</param>
public sealed record Perplexity(double Reference, double Candidate)
{
    /// <summary>ln(PPL_candidate / PPL_reference): 0 when equal, positive when the candidate is worse.</summary>
    public double LogRatio => Math.Log(Candidate / Reference);
}

/// <summary>One of the positions where the candidate is furthest from the reference.</summary>
/// <param name="Position">0-based index of the position in the scored text.</param>
/// <param name="Kl">KL(reference || candidate) there, in nats.</param>
/// <param name="Context">The text before the position, decoded with the reference's tokenizer.</param>
/// <param name="RefToken">The reference's top-ranked token there.</param>
/// <param name="CandToken">The candidate's top-ranked token there.</param>
public sealed record WorstPosition(int Position, double Kl, string Context, string RefToken, string CandToken);

/// <summary>Error of the candidate's residual stream after one executed step.</summary>
/// <param name="Step">0-based index in execution order.</param>
/// <param name="StoredBlock">The stored block the step runs (MobileLLM-LS: block 1 serves steps 2 and 3).</param>
/// <param name="RelError">||h_cand - h_ref|| / ||h_ref|| over every scored position.</param>
/// <param name="Cosine">Cosine similarity of h_cand and h_ref over every scored position.</param>
public sealed record LayerError(int Step, int StoredBlock, double RelError, double Cosine);

/// <summary>One stored tensor of the candidate that differs from the reference, and the KL it adds alone.</summary>
/// <param name="Name">The candidate's name for the tensor.</param>
/// <param name="TypeRef">The reference tensor's element type.</param>
/// <param name="TypeCand">The candidate tensor's element type.</param>
/// <param name="Steps">The executed steps it serves (empty for the embedding, final norm and head).</param>
/// <param name="DeltaKl">Mean KL of the reference with only this tensor taken from the candidate.</param>
public sealed record TensorDelta(string Name, string TypeRef, string TypeCand, IReadOnlyList<int> Steps, double DeltaKl);
