using System.Security.Cryptography;
using System.Text;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert;

/// <summary>An accuracy budget's search (<see cref="Result"/>) and what the writers record of it (<see cref="Quality"/>).</summary>
/// <param name="Kind">Which budget.</param>
/// <param name="Value">The budget as given (nats, bytes or bits per parameter).</param>
/// <param name="Result">The search's choices, checks and measured KL.</param>
/// <param name="Quality">The record for <see cref="WriteOptions.Quality"/>.</param>
public sealed record Budget(BudgetKind Kind, double Value, BudgetResult Result, QualityRecord Quality)
{
    /// <summary>The budget's name in records and JSON: max_kl, target_size, target_bpw.</summary>
    public string Name => Budgets.Name(Kind);
}

/// <summary>The facade's side of `--max-kl` / `--target-size` / `--target-bpw`: options checked, the evaluation text read and tokenized, the search run.</summary>
internal static class Budgets
{
    /// <summary>Largest `--eval-text` read: a few MB of text is far more than a budget scores; this only stops a hostile size.</summary>
    public const long MaxEvalTextBytes = 64L << 20;

    public static string Name(BudgetKind kind) => kind switch
    {
        BudgetKind.MaxKl => "max_kl",
        BudgetKind.TargetSize => "target_size",
        _ => "target_bpw",
    };

    /// <summary>
    /// The policy of every tensor the search does not decide: norms f32, overrides pin their tensors,
    /// the rounding asked for. A budget chooses the types itself, so `--quant` and `--group-size` are refused with it.
    /// </summary>
    public static QuantPolicy BasePolicy(ConvertOptions o, IModelFormat? target)
    {
        int given = (o.MaxKl is null ? 0 : 1) + (o.TargetBytes is null ? 0 : 1) + (o.TargetBpw is null ? 0 : 1);
        if (given > 1) throw new QuantPolicyException("--max-kl, --target-size and --target-bpw: give one budget, not several");
        if (o.Quant is not null || o.GroupSize is not null)
            throw new QuantPolicyException("--max-kl, --target-size and --target-bpw choose each tensor's type: drop --quant and --group-size (--quant-override pins a tensor's type)");
        if (o.MaxKl is { } kl && !(double.IsFinite(kl) && kl >= 0)) throw new QuantPolicyException($"--max-kl {kl}: expected a number of nats >= 0");
        if (o.TargetBytes is <= 0) throw new QuantPolicyException($"--target-size {o.TargetBytes}: expected a positive size");
        if (o.TargetBpw is { } bpw && !(double.IsFinite(bpw) && bpw > 0 && bpw <= 32)) throw new QuantPolicyException($"--target-bpw {bpw}: expected bits per weight above 0 and at most 32");
        if (o.EvalTokens is < 1) throw new QuantPolicyException($"--eval-tokens {o.EvalTokens}: expected at least 1");
        var policy = QuantPolicy.Parse("q8", null, o.QuantOverrides, o.StrictQuant,
            o.Rounding is null ? Core.Quant.QuantRounding.Search : QuantPolicy.ParseRounding(o.Rounding));
        if (target?.CannotStore(policy) is { } reason) throw new ModelUsageException($"--to {target.Name}: {reason}");
        return policy;
    }

    /// <summary>Reads and tokenizes the evaluation text, searches <paramref name="shared"/> (the model after the sharing passes) and builds the record.</summary>
    public static Budget Search(ModelIr shared, QuantPolicy basePolicy, ConvertOptions o, ImportanceMap? importance = null)
    {
        var (kind, value) = o.MaxKl is { } kl ? (BudgetKind.MaxKl, kl)
            : o.TargetBytes is { } b ? (BudgetKind.TargetSize, (double)b)
            : (BudgetKind.TargetBpw, o.TargetBpw!.Value);
        var (bytes, name) = ReadText(o.EvalText);
        var tokenizer = Tokenizers.For(shared);
        var ids = tokenizer.Encode(Encoding.UTF8.GetString(bytes));
        if (ids.Length == 0) throw new ModelUsageException($"--eval-text: {name} holds no text");
        var tokens = ids.Take(o.EvalTokens ?? BudgetOptions.DefaultEvalTokens).ToArray();
        var target = o.Target is null ? null : ModelFormats.GetWritable(o.Target);
        var options = new BudgetOptions
        {
            Kind = kind,
            Value = value,
            Tokens = tokens,
            TextSource = name,
            Context = DiffOptions.DefaultContext(shared.Config),
            BasePolicy = basePolicy,
            Importance = importance,
            CanStore = target is null ? null : type => target.CannotStore(PolicyOf(type)) is null,
            Executor = new ExecutorOptions { Threads = o.Threads ?? Math.Max(1, Environment.ProcessorCount) },
        };
        // The search runs the model dozens of times: its tensors are read once into memory through the
        // conversion's checked reads (a file truncated meanwhile is one error, never a fault), and every
        // run uses those bytes.
        var reference = shared with
        {
            Tensors = shared.Tensors.Select(t => t.Source.TryGetSpan(out _) ? t : new Tensor(t.Name, t.Shape, t.Type, new MemorySource(t.Source.ToArray()))).ToList(),
        };
        var result = BudgetSearch.Run(reference, options, o.Progress);
        var quality = new QualityRecord(Name(kind), value, result.MeasuredKl, name, Convert.ToHexStringLower(SHA256.HashData(bytes)), tokens.Length,
            options.Context, result.Tensors.Select(t => new KeyValuePair<string, string>(t.Name, t.Type.Info().Name)).ToArray());
        return new Budget(kind, value, result, quality);
    }

    /// <summary>The policy that asks for exactly <paramref name="type"/>, to ask a format whether it can store the type.</summary>
    private static QuantPolicy PolicyOf(ElementType type) => QuantPolicy.Parse(type.Info().Name);

    private static (byte[] Bytes, string Name) ReadText(string? path)
    {
        if (path is null) return (Encoding.UTF8.GetBytes(EvaluationText.Default), EvaluationText.DefaultName);
        var info = new FileInfo(path);
        if (!info.Exists) throw new ModelUsageException($"--eval-text: {path}: no such file");
        if (info.Length > MaxEvalTextBytes) throw new ModelUsageException($"--eval-text: {path} is {info.Length} bytes, over the {MaxEvalTextBytes} byte limit");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length > MaxEvalTextBytes) throw new ModelUsageException($"--eval-text: {path} grew over the {MaxEvalTextBytes} byte limit while read");
        try
        {
            _ = new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new ModelUsageException($"--eval-text: {path} is not UTF-8 text");
        }
        return (bytes, path);
    }
}
