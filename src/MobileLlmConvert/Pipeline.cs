using System.Diagnostics;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert;

/// <summary>What a conversion does. Defaults equal the CLI's (`convert`, `hf2mobile`).</summary>
public sealed record ConvertOptions
{
    /// <summary>
    /// The format the result will be written as: when <see cref="Quant"/> is null its default scheme
    /// applies (<see cref="IModelFormat.DefaultQuant"/>: q4 for mobile and bundle, none for GGUF), and
    /// a policy it cannot store is refused before any work. Null: no target checks, no default quantization.
    /// </summary>
    public string? Target { get; init; }

    /// <summary>f32, f16, q8, q4, q4a or the GGUF spellings q8_0, q4_0, q4_1 (the CLI's `--quant`); null = the target's default.</summary>
    public string? Quant { get; init; }

    /// <summary>Values per quantization block: 32, 64 or 128 (null = 32, or the group a GGUF spelling fixes).</summary>
    public int? GroupSize { get; init; }

    /// <summary>"PATTERN=TYPE" per tensor key glob, last match wins (the CLI's `--quant-override`).</summary>
    public IReadOnlyList<string> QuantOverrides { get; init; } = [];

    /// <summary>Refuse, instead of falling back, when a tensor's width is not a multiple of the group.</summary>
    public bool StrictQuant { get; init; }

    /// <summary>How block scales are chosen: "search" (least squared error, the default when null) or "rtn" (round to nearest, llama-quantize's bytes); the CLI's `--rounding`.</summary>
    public string? Rounding { get; init; }

    /// <summary>
    /// A UTF-8 text to calibrate on (the CLI's `--calibration`): the source model runs over it and the
    /// per-column mean x² of every matrix input weights the scale search. Needs a quantized scheme with
    /// rounding "search". Never the evaluation text (a warning says so).
    /// </summary>
    public string? Calibration { get; init; }

    /// <summary>A llama.cpp importance-matrix file, GGUF or legacy .dat (the CLI's `--imatrix`), used as <see cref="Calibration"/>'s result would be.</summary>
    public string? Imatrix { get; init; }

    /// <summary>Keep a stored output head even when it is byte-identical to the embedding.</summary>
    public bool NoTie { get; init; }

    /// <summary>Store byte-identical tensors once per name rather than once.</summary>
    public bool NoDedup { get; init; }

    /// <summary>Keep repeated KV heads as they are.</summary>
    public bool NoFoldGqa { get; init; }

    /// <summary>Receives stage "passes" (passes done of passes planned, the pass name), and "budget" while an accuracy budget searches.</summary>
    public IProgress<ConversionProgress>? Progress { get; init; }

    /// <summary>
    /// Accuracy budget (the CLI's `--max-kl`): the smallest model whose mean KL(source ‖ model) on the
    /// evaluation text is at most this many nats; each matrix's type is searched (<see cref="Runtime.Evaluation.BudgetSearch"/>).
    /// Excludes <see cref="Quant"/> and <see cref="GroupSize"/>; overrides pin the tensors they match.
    /// </summary>
    public double? MaxKl { get; init; }

    /// <summary>Size budget (the CLI's `--target-size`): the lowest estimated KL whose stored tensor bytes are at most this.</summary>
    public long? TargetBytes { get; init; }

    /// <summary>Size budget in bits per stored parameter (the CLI's `--target-bpw`): stored tensor bytes at most bpw × parameters / 8.</summary>
    public double? TargetBpw { get; init; }

    /// <summary>The evaluation text of a budget, a UTF-8 file (the CLI's `--eval-text`); null = the shipped default text (<see cref="Runtime.Evaluation.EvaluationText"/>).</summary>
    public string? EvalText { get; init; }

    /// <summary>Evaluation tokens a budget scores, the first N of the text (the CLI's `--eval-tokens`); null = <see cref="Runtime.Evaluation.BudgetOptions.DefaultEvalTokens"/>.</summary>
    public int? EvalTokens { get; init; }

    /// <summary>Threads of the budget search's executor; null = every processor.</summary>
    public int? Threads { get; init; }

    /// <summary>Whether an accuracy or size budget is asked for.</summary>
    public bool HasBudget => MaxKl is not null || TargetBytes is not null || TargetBpw is not null;

    /// <summary>The sharing switches as the passes take them.</summary>
    public SharingOptions Sharing => new() { NoTie = NoTie, NoDedup = NoDedup, NoFoldGqa = NoFoldGqa };

    /// <summary>The Quantize pass's policy, or null when neither these options nor the target ask for quantization.</summary>
    /// <exception cref="QuantPolicyException">A bad scheme, group size or override.</exception>
    public QuantPolicy? Policy()
    {
        var target = Target is null ? null : ModelFormats.GetWritable(Target);
        if (HasBudget) return Budgets.BasePolicy(this, target);
        if (EvalText is not null || EvalTokens is not null)
            throw new QuantPolicyException("--eval-text and --eval-tokens need --max-kl, --target-size or --target-bpw");
        string? scheme = Quant ?? target?.DefaultQuant;
        if (scheme is null)
        {
            if (GroupSize is not null || QuantOverrides.Count > 0 || Rounding is not null || Calibration is not null || Imatrix is not null)
                throw new QuantPolicyException("--group-size, --quant-override, --rounding, --calibration and --imatrix need --quant");
            return null;
        }
        var policy = QuantPolicy.Parse(scheme, GroupSize, QuantOverrides, StrictQuant,
            Rounding is null ? Core.Quant.QuantRounding.Search : QuantPolicy.ParseRounding(Rounding));
        if (target?.CannotStore(policy) is { } reason) throw new ModelUsageException($"--to {target.Name}: {reason}");
        return policy;
    }
}

/// <summary>
/// The conversion pipeline every writing verb shares: sharing passes (tie, dedup, fold GQA) first, so
/// a shared tensor is quantized once, then the Quantize pass. Nothing here reads tensor bytes beyond
/// the byte comparisons that confirm a share: the passes produce lazy sources and the writer streams
/// them tensor by tensor.
/// </summary>
public static class Pipeline
{
    /// <summary>Runs the passes; write <see cref="Conversion.Result"/> with <see cref="Models.Write"/>.</summary>
    public static Conversion Run(ModelIr source, ConvertOptions? options = null)
    {
        options ??= new ConvertOptions();
        var policy = options.Policy();
        var clock = Stopwatch.StartNew();
        int total = policy is null ? 1 : 2;
        // Inputs are read through pread with a size/mtime check, not the mapping: a file truncated
        // under a conversion then ends in one "input changed while reading" line, not SIGBUS.
        var shared = SharingPipeline.Run(source.WithCheckedReads(), options.Sharing);
        options.Progress?.Report(new ConversionProgress("passes", 1, total, "sharing"));
        var ir = shared.Ir;
        PassReport? quant = null;
        Budget? budget = null;
        // Loaded once: a budget's candidate models are quantized with the same importance as the output.
        var importance = policy is null ? null : ImportanceSources.Load(ir, options, policy);
        if (options.HasBudget)
        {
            budget = Budgets.Search(ir, policy!, options, importance);
            policy = policy! with { Assigned = budget.Result.Types };
        }
        if (policy is not null)
        {
            var pass = new QuantizePass(policy, importance);
            var q = pass.Run(ir);
            ir = q.Ir;
            quant = q.Report;
            options.Progress?.Report(new ConversionProgress("passes", 2, total, pass.Name));
        }
        return new Conversion(source, ir, shared, quant, policy, clock, budget);
    }

    /// <summary>
    /// A dry run: the passes and what they merge, the element type and bytes of every stored tensor
    /// after them, and the total. Reads what the passes read (byte comparisons), writes nothing.
    /// </summary>
    public static ConversionPlan Plan(ModelIr source, ConvertOptions? options = null)
    {
        // Released at once: the plan keeps reports, shapes and types; the source stays the caller's.
        using var conversion = Run(source, options);
        var tensors = conversion.Result.Tensors
            .Select(t => new PlannedTensor(t.Name, t.Shape, t.Type.Info().Name, t.ByteLength))
            .ToList();
        return new ConversionPlan(conversion, tensors);
    }
}

/// <summary>One stored tensor as a conversion would write it.</summary>
public sealed record PlannedTensor(string Key, long[] Shape, string Type, long Bytes);

/// <summary>
/// What <see cref="Pipeline.Plan"/> found: the conversion (passes, reports; its lease on the source
/// already released, so its result reads bytes only while the source is open) and its stored tensors.
/// </summary>
public sealed record ConversionPlan(Conversion Conversion, IReadOnlyList<PlannedTensor> Tensors)
{
    /// <summary>Sum of <see cref="PlannedTensor.Bytes"/>: the stored size after the passes (a single-file format adds its header; GGUF repeats shared tensors per step).</summary>
    public long StoredBytes => Tensors.Sum(t => t.Bytes);
}

/// <summary>
/// The result of <see cref="Pipeline.Run"/>: the source, the converted IR and what each pass did.
/// The result reads the source's mapped files: the conversion holds a lease on them, so they are
/// released once both the source and the conversion are disposed, in either order.
/// </summary>
public sealed class Conversion(ModelIr source, ModelIr result, SharingResult sharing, PassReport? quantization, QuantPolicy? policy, Stopwatch clock,
    Budget? budget = null) : IDisposable
{
    private readonly IDisposable _lease = source.Resources.Lease();

    /// <summary>The IR the conversion read (owned by the caller).</summary>
    public ModelIr Source { get; } = source;
    /// <summary>The converted IR, ready for <see cref="Models.Write"/> or the executor; its tensors are computed lazily from the source.</summary>
    public ModelIr Result { get; } = result;
    /// <summary>What the sharing passes (tie, dedup, fold GQA) did.</summary>
    public SharingResult Sharing { get; } = sharing;
    /// <summary>The Quantize pass's report, or null when nothing asked for quantization.</summary>
    public PassReport? Quantization { get; } = quantization;
    /// <summary>The quantization policy applied, or null when the tensors kept their types.</summary>
    public QuantPolicy? Policy { get; } = policy;
    /// <summary>Started before the passes, so elapsed time covers passes and writing.</summary>
    public Stopwatch Clock { get; } = clock;
    /// <summary>The accuracy budget's search and its record for the writers (<see cref="WriteOptions.Quality"/>), or null when no budget was asked for.</summary>
    public Budget? Budget { get; } = budget;

    /// <summary>Every pass's report, in the order the passes ran.</summary>
    public IEnumerable<PassReport> Reports => Quantization is null ? Sharing.Reports : Sharing.Reports.Append(Quantization);

    /// <summary>Releases this conversion's hold on the source's mapped files.</summary>
    public void Dispose() => _lease.Dispose();
}
