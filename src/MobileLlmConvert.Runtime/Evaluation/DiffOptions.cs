using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>What <see cref="DiffEngine.Run"/> scores and how. The token stream is the caller's (text tokenized with the reference's tokenizer, or ids).</summary>
public sealed record DiffOptions
{
    /// <summary>Window length when none is asked for: the model's context, capped here so a 2048-token context does not make every window cost 4x its attention.</summary>
    public const int DefaultContextCap = 512;
    /// <summary>Positions the worst-position table keeps per candidate.</summary>
    public const int DefaultWorstCount = 10;
    /// <summary>Positions `--per-tensor` scores by default (whole windows from the start): one 125M-shaped window, so a per-tensor run stays in minutes on 2 cores.</summary>
    public const int DefaultPerTensorTokens = 512;
    /// <summary>Prompt of the `--generate` comparison: the first tokens of the evaluation text.</summary>
    public const int GeneratePromptTokens = 16;
    /// <summary>Tokens of text before a worst position shown as its context.</summary>
    public const int WorstContextTokens = 16;

    /// <summary>Token ids scored, in order; split into consecutive windows of <see cref="Context"/>.</summary>
    public required IReadOnlyList<int> Tokens { get; init; }
    /// <summary>Where the tokens came from: a file path, "--tokens" or the default text's name (reported as is).</summary>
    public required string TextSource { get; init; }
    /// <summary>Window length in tokens; every window starts with an empty KV cache.</summary>
    public required int Context { get; init; }
    /// <summary>Threads and quantized-matmul path of every executor the run builds (MaxContext is set per run).</summary>
    public ExecutorOptions Executor { get; init; } = new();
    /// <summary>Compare the residual stream after every executed step (`--per-layer`).</summary>
    public bool PerLayer { get; init; }
    /// <summary>Measure the KL each differing stored tensor adds alone (`--per-tensor`).</summary>
    public bool PerTensor { get; init; }
    /// <summary>Positions `PerTensor` scores: whole windows from the start until at least this many.</summary>
    public int PerTensorTokens { get; init; } = DefaultPerTensorTokens;
    /// <summary>Greedy steps to compare (0 = no generation comparison).</summary>
    public int Generate { get; init; }
    /// <summary>How many of the worst positions each candidate reports.</summary>
    public int WorstCount { get; init; } = DefaultWorstCount;
    /// <summary>Gate on mean KL (nats); null = no gate.</summary>
    public double? MaxMeanKl { get; init; }
    /// <summary>Gate on top-1 agreement (0..1); null = no gate.</summary>
    public double? MinTop1 { get; init; }
    /// <summary>Decodes tokens for the worst-position table (the reference's tokenizer); null shows ids.</summary>
    public TextTokenizer? Decoder { get; init; }

    /// <summary>The default window: the model's context length capped at <see cref="DefaultContextCap"/>.</summary>
    public static int DefaultContext(ModelConfig config) =>
        config.ContextLength > 0 ? Math.Min(config.ContextLength, DefaultContextCap) : DefaultContextCap;
}

/// <summary>
/// One model to compare with the reference: the path as given (for reports), its IR (the caller owns
/// it) and, when it is not run by our executor, the runtime that computes its logits (e.g. ONNX Runtime
/// over the same folder; `--per-layer` and `--per-tensor` need our executor).
/// </summary>
/// <param name="Path">The path as given, for reports.</param>
/// <param name="Ir">The model read (shapes, vocabulary; our executor's weights).</param>
/// <param name="Runtime">Makes the logit model from the run's executor options; null = <see cref="Transformer"/> over <paramref name="Ir"/>.</param>
public sealed record DiffCandidate(string Path, ModelIr Ir, Func<ExecutorOptions, ILogitModel>? Runtime = null)
{
    /// <summary>The candidate's logit model for these options.</summary>
    public ILogitModel Open(ExecutorOptions options) => Runtime?.Invoke(options) ?? new Transformer(Ir, options);
}

/// <summary>The run's result plus what only `verify` prints (largest logit and probability errors, per candidate).</summary>
public sealed record DiffOutcome(DiffResult Result, IReadOnlyList<LogitErrors> Errors, double Seconds);

/// <summary>Largest |logit_c − logit_r| and |p_c − p_r| over every scored position and vocabulary entry.</summary>
public sealed record LogitErrors(double MaxAbsLogit, double MaxAbsProbability);
