using System.CommandLine;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>`--quant`, `--group-size`, `--quant-override`, `--strict-quant`, `--rounding`, `--calibration`, `--imatrix`: the Quantize pass's policy and importance, on convert and hf2mobile.</summary>
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

    private readonly Option<string> _calibration = new("--calibration")
    {
        Description = "a UTF-8 text to calibrate on: the source model runs over it and each matrix input's mean x² per column weights the scale search (not the evaluation text)",
    };
    private readonly Option<string> _imatrix = new("--imatrix") { Description = "a llama.cpp importance matrix (llama-imatrix output, GGUF or legacy .dat) weighting the scale search" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(_calibration);
        cmd.Options.Add(_imatrix);
        cmd.Options.Add(_quant);
        cmd.Options.Add(_group);
        cmd.Options.Add(_overrides);
        cmd.Options.Add(_strict);
        cmd.Options.Add(_rounding);
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
        Calibration = parse.GetValue(_calibration),
        Imatrix = parse.GetValue(_imatrix),
    };

    /// <summary>The options as recorded in a bundle manifest: what was asked, spelled as on the command line.</summary>
    public void Record(ParseResult parse, IDictionary<string, string> into, QuantPolicy? policy)
    {
        into["quant"] = policy is null ? "none" : QuantPolicy.SchemeName(policy.Scheme);
        if (policy is not null) into["group_size"] = policy.GroupSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (policy is { IsQuantized: true }) into["rounding"] = policy.Rounding == Core.Quant.QuantRounding.Rtn ? "rtn" : "search";
        var overrides = parse.GetValue(_overrides) ?? [];
        if (overrides.Length > 0) into["quant_overrides"] = string.Join(";", overrides);
        if (parse.GetValue(_strict)) into["strict_quant"] = "true";
        // The file name only: a manifest must not leak the converting machine's directories.
        if (parse.GetValue(_calibration) is { } calibration) into["calibration"] = Path.GetFileName(calibration);
        if (parse.GetValue(_imatrix) is { } imatrix) into["imatrix"] = Path.GetFileName(imatrix);
    }
}
