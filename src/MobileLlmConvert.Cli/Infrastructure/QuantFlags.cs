using System.CommandLine;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// `--quant`, `--group-size`, `--quant-override`, `--strict-quant`, `--rounding`, `--calibration`, `--imatrix`: the Quantize pass's
/// policy and importance, on convert and hf2mobile; and the budgets that choose each tensor's type instead (`--max-kl`,
/// `--target-size`, `--target-bpw`, `--eval-text`, `--eval-tokens`).
/// </summary>
internal sealed class QuantFlags(string? defaultScheme)
{
    private readonly Option<string> _quant = new("--quant", "-q")
    {
        Description = "f32, f16, q8, q4, q4a, q5_0, q5_1, q4_k or q6_k (GGUF spellings q8_0, q4_0, q4_1 = group 32)" + (defaultScheme is null ? "" : $"; default {defaultScheme}"),
    };
    private readonly Option<int?> _group = new("--group-size") { Description = "values per quantization block: 32 (default), 64 or 128" };
    private readonly Option<string[]> _overrides = new("--quant-override")
    {
        Description = "PATTERN=TYPE for matching tensor keys, repeatable, last match wins (e.g. 'model.embed_tokens.weight=q4')",
        AllowMultipleArgumentsPerToken = false,
    };
    private readonly Option<bool> _strict = new("--strict-quant") { Description = "refuse, instead of falling back, when a tensor's width is not a multiple of the group size" };
    private readonly Option<string> _rounding = new("--rounding")
    {
        Description = "how block scales are chosen: search (default: least squared error) or rtn (round to nearest, llama-quantize's bytes)",
    };

    private readonly Option<double?> _maxKl = new("--max-kl")
    {
        Description = "accuracy budget: the smallest model whose mean KL (nats) against the source on the evaluation text is at most this; each matrix's type is searched (instead of --quant)",
    };
    private readonly Option<string> _targetSize = new("--target-size")
    {
        Description = "size budget: the lowest estimated KL whose stored tensor bytes fit, e.g. 40MB, 38MiB or 40000000 (instead of --quant)",
    };
    private readonly Option<double?> _targetBpw = new("--target-bpw") { Description = "size budget in bits per stored parameter, e.g. 5.0 (instead of --quant)" };
    private readonly Option<string> _evalText = new("--eval-text") { Description = "UTF-8 text a budget is measured on (default: the shipped public-domain text diff scores)" };
    private readonly Option<int?> _evalTokens = new("--eval-tokens") { Description = "evaluation tokens a budget scores: the first N of the text (default 2048)" };

    private readonly Option<string> _calibration = new("--calibration")
    {
        Description = "a UTF-8 text to calibrate on: the source model runs over it and each matrix input's mean x² per column weights the scale search (not the evaluation text)",
    };
    private readonly Option<string> _imatrix = new("--imatrix") { Description = "a llama.cpp importance matrix (llama-imatrix output, GGUF or legacy .dat) weighting the scale search" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(_quant);
        cmd.Options.Add(_group);
        cmd.Options.Add(_overrides);
        cmd.Options.Add(_strict);
        cmd.Options.Add(_rounding);
        cmd.Options.Add(_calibration);
        cmd.Options.Add(_imatrix);
        cmd.Options.Add(_maxKl);
        cmd.Options.Add(_targetSize);
        cmd.Options.Add(_targetBpw);
        cmd.Options.Add(_evalText);
        cmd.Options.Add(_evalTokens);
    }

    public string? Scheme(ParseResult parse) => parse.GetValue(_quant) ?? defaultScheme;

    /// <summary>
    /// The quantization part of the library's options, spelled as on the command line. The verb's
    /// default scheme is not filled in here: the target format's <c>DefaultQuant</c> applies in the
    /// library, so the CLI and a library caller get the same default.
    /// </summary>
    public ConvertOptions Apply(ParseResult parse, ConvertOptions options) => options with
    {
        Quant = parse.GetValue(_quant),
        GroupSize = parse.GetValue(_group),
        QuantOverrides = parse.GetValue(_overrides) ?? [],
        StrictQuant = parse.GetValue(_strict),
        Rounding = parse.GetValue(_rounding),
        MaxKl = parse.GetValue(_maxKl),
        TargetBytes = parse.GetValue(_targetSize) is { } size ? ParseSize(size) : null,
        TargetBpw = parse.GetValue(_targetBpw),
        EvalText = parse.GetValue(_evalText),
        EvalTokens = parse.GetValue(_evalTokens),
        Calibration = parse.GetValue(_calibration),
        Imatrix = parse.GetValue(_imatrix),
    };

    /// <summary>
    /// `--target-size`: bytes, or a number with a unit: kB, MB, GB (powers of 1000) or KiB, MiB, GiB
    /// (powers of 1024), case-insensitive, e.g. 40MB, 38.5MiB.
    /// </summary>
    internal static long ParseSize(string text)
    {
        string t = text.Trim();
        int end = t.Length;
        while (end > 0 && char.IsLetter(t[end - 1])) end--;
        double unit = t[end..].ToLowerInvariant() switch
        {
            "" or "b" => 1,
            "kb" => 1e3, "mb" => 1e6, "gb" => 1e9,
            "kib" => 1024, "mib" => 1 << 20, "gib" => 1 << 30,
            _ => throw new UsageException($"--target-size {text}: unknown unit \"{t[end..]}\" (expected B, kB, MB, GB, KiB, MiB or GiB)"),
        };
        if (!double.TryParse(t[..end], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double n)
            || !(n * unit >= 1) || n * unit > long.MaxValue / 2)
            throw new UsageException($"--target-size {text}: expected a positive size such as 40MB, 38MiB or 40000000");
        return (long)Math.Floor(n * unit);
    }

    /// <summary>The options as recorded in a bundle manifest: what was asked, spelled as on the command line.</summary>
    public void Record(ParseResult parse, IDictionary<string, string> into, QuantPolicy? policy)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        bool budget = parse.GetValue(_maxKl) is not null || parse.GetValue(_targetSize) is not null || parse.GetValue(_targetBpw) is not null;
        // With a budget each tensor's type is the search's (the manifest's "quality" lists them): no scheme, no group.
        into["quant"] = budget ? "budget" : policy is null ? "none" : QuantPolicy.SchemeName(policy.Scheme);
        if (policy is not null && !budget) into["group_size"] = policy.GroupSize.ToString(invariant);
        if (parse.GetValue(_maxKl) is { } kl) into["max_kl"] = kl.ToString("R", invariant);
        if (parse.GetValue(_targetSize) is { } size) into["target_size"] = ParseSize(size).ToString(invariant);
        if (parse.GetValue(_targetBpw) is { } bpw) into["target_bpw"] = bpw.ToString("R", invariant);
        if (parse.GetValue(_evalText) is { } text) into["eval_text"] = text;
        if (parse.GetValue(_evalTokens) is { } n) into["eval_tokens"] = n.ToString(invariant);
        if (policy is { IsQuantized: true }) into["rounding"] = policy.Rounding == Core.Quant.QuantRounding.Rtn ? "rtn" : "search";
        var overrides = parse.GetValue(_overrides) ?? [];
        if (overrides.Length > 0) into["quant_overrides"] = string.Join(";", overrides);
        if (parse.GetValue(_strict)) into["strict_quant"] = "true";
        // The file name only: a manifest must not leak the converting machine's directories.
        if (parse.GetValue(_calibration) is { } calibration) into["calibration"] = Path.GetFileName(calibration);
        if (parse.GetValue(_imatrix) is { } imatrix) into["imatrix"] = Path.GetFileName(imatrix);
    }
}
