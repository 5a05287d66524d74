using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>What an accuracy budget asks for: the smallest model within a mean KL, or the lowest KL within a size.</summary>
public enum BudgetKind
{
    /// <summary>`--max-kl X`: the smallest model whose measured mean KL is at most X.</summary>
    MaxKl,
    /// <summary>`--target-size BYTES`: the lowest estimated KL whose stored tensor bytes fit.</summary>
    TargetSize,
    /// <summary>`--target-bpw X`: as <see cref="TargetSize"/> with the bytes X·parameters/8.</summary>
    TargetBpw,
}

/// <summary>How <see cref="BudgetSearch.Run"/> searches (docs/quantization.md, "Accuracy budget").</summary>
public sealed record BudgetOptions
{
    /// <summary>Default `--eval-tokens`: four 512-token windows, so one end-to-end check of a 125M model takes seconds, not minutes.</summary>
    public const int DefaultEvalTokens = 2048;
    /// <summary>Positions of the per-tensor probe (one short window): each stored tensor is measured alone on these.</summary>
    public const int DefaultProbeTokens = 128;
    /// <summary>End-to-end checks of a max-KL search before it settles for the best passing one (each costs two model runs over the evaluation tokens).</summary>
    public const int MaxVerifications = 8;
    /// <summary>Rows of a tensor whose squared quantization error is measured per candidate type (evenly spaced): enough for a stable ratio between types, a fraction of quantizing a 32000-row embedding ten times.</summary>
    public const int ErrorSampleRows = 64;

    /// <summary>What is bounded.</summary>
    public required BudgetKind Kind { get; init; }
    /// <summary>The bound: nats for <see cref="BudgetKind.MaxKl"/>, bytes for <see cref="BudgetKind.TargetSize"/>, bits per stored parameter for <see cref="BudgetKind.TargetBpw"/>.</summary>
    public required double Value { get; init; }
    /// <summary>Token ids of the evaluation text (already cut to the evaluation length).</summary>
    public required IReadOnlyList<int> Tokens { get; init; }
    /// <summary>How reports name the evaluation text.</summary>
    public required string TextSource { get; init; }
    /// <summary>Window of the end-to-end checks: consecutive windows from an empty cache, as `mlconvert diff --context`.</summary>
    public required int Context { get; init; }
    /// <summary>The policy every tensor the search does not decide follows (norms f32, overrides pinned, rounding).</summary>
    public required QuantPolicy BasePolicy { get; init; }
    /// <summary>Per-column importance (`--calibration`, `--imatrix`) every candidate is quantized with, as the output will be; null = none.</summary>
    public Core.Quant.ImportanceMap? Importance { get; init; }
    /// <summary>Whether the output format can store a type (GGUF stores only ggml's group-32/256 types); null = every type.</summary>
    public Func<ElementType, bool>? CanStore { get; init; }
    /// <summary>Positions of the per-tensor probe, from the start of <see cref="Tokens"/>.</summary>
    public int ProbeTokens { get; init; } = DefaultProbeTokens;
    /// <summary>Threads and quantized-matmul path of every executor the search builds.</summary>
    public ExecutorOptions Executor { get; init; } = new();
}

/// <summary>One stored tensor's choice.</summary>
/// <param name="Name">The tensor key.</param>
/// <param name="Type">The element type chosen.</param>
/// <param name="Bytes">Its stored bytes in that type.</param>
/// <param name="EstimatedDeltaKl">The KL it is estimated to add alone (the probe's measurement scaled by the type's squared weight error).</param>
/// <param name="Candidates">How many types were open to it (after dropping types no smaller and no better than another).</param>
public sealed record BudgetTensor(string Name, ElementType Type, long Bytes, double EstimatedDeltaKl, int Candidates);

/// <summary>One end-to-end check of a searched model.</summary>
/// <param name="Bytes">Stored tensor bytes of the model checked.</param>
/// <param name="EstimatedKl">The search's estimate before the check.</param>
/// <param name="MeasuredKl">Mean KL measured on the evaluation tokens.</param>
/// <param name="Passed">Within the budget (max-KL: measured ≤ X; size: always).</param>
public sealed record BudgetTrial(long Bytes, double EstimatedKl, double MeasuredKl, bool Passed);

/// <summary>The search's answer: a type per searched tensor, the model's measured KL and how it got there.</summary>
/// <param name="Types">Tensor key → chosen type (only the tensors the search decided; norms, pinned and already quantized tensors are not here).</param>
/// <param name="Tensors">The same choices with bytes and estimates, in table order.</param>
/// <param name="MeasuredKl">Mean KL(reference ‖ chosen) over <see cref="BudgetOptions.Tokens"/>: what `mlconvert diff` reports on those tokens and windows.</param>
/// <param name="TensorBytes">Stored bytes of every tensor of the chosen model (norms and pinned tensors included).</param>
/// <param name="TargetBytes">The byte bound of a size budget, null for max-KL.</param>
/// <param name="Trials">Every end-to-end check, in order.</param>
/// <param name="Seconds">Wall time of the search.</param>
public sealed record BudgetResult(IReadOnlyDictionary<string, ElementType> Types, IReadOnlyList<BudgetTensor> Tensors, double MeasuredKl,
    long TensorBytes, long? TargetBytes, IReadOnlyList<BudgetTrial> Trials, double Seconds);
