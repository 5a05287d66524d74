using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert diff REF CAND [CAND...]`: what quantization or conversion cost, and where. Every
/// candidate is scored against the reference on the same teacher-forced windows (DiffEngine): KL
/// percentiles, top-1 agreement, delta-p, perplexity, worst positions; `--per-layer` and
/// `--per-tensor` say which step and which tensor lost the accuracy. Gates (`--max-kl` on mean KL,
/// `--min-top1`) exit 1 naming the failing candidates. Schema: docs/diff.md.
/// </summary>
public sealed class DiffVerb : IVerb
{
    /// <summary>Largest --text file read: a few MB of text is hours of scoring already; this only stops a hostile size.</summary>
    public const long MaxTextBytes = 64L << 20;
    /// <summary>Largest --tokens list.</summary>
    public const int MaxTokenIds = 1 << 20;
    /// <summary>Largest --generate: the comparison needs a KV cache of prompt + N positions per model.</summary>
    public const int MaxGenerate = 4096;

    public Command Build(CliContext ctx)
    {
        var reference = new Argument<string>("REF") { Description = "the reference model: Hugging Face directory, .gguf file, mobile bundle or model file" };
        var candidates = new Argument<string[]>("CAND") { Description = "one or more models to compare with it (any format we read)", Arity = ArgumentArity.OneOrMore };
        var text = new Option<string>("--text") { Description = "a UTF-8 text file to score, tokenized with the reference's tokenizer (default: the shipped public-domain text, " + EvaluationText.DefaultName + ")" };
        var tokens = new Option<string>("--tokens") { Description = "comma-separated token ids to score instead of a text" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "score at most the first N tokens of the text (default: all)" };
        var context = new Option<int?>("--context") { Description = $"window length in tokens; each window starts from an empty cache (default: the model's context, capped at {DiffOptions.DefaultContextCap})" };
        var perLayer = new Option<bool>("--per-layer") { Description = "relative RMS error and cosine of the residual stream after every executed step" };
        var perTensor = new Option<bool>("--per-tensor") { Description = "for each candidate tensor that differs from the reference's: the mean KL added when only that tensor is taken from the candidate, ranked" };
        var perTensorTokens = new Option<int>("--per-tensor-tokens") { Description = "positions --per-tensor scores, in whole windows from the start", DefaultValueFactory = _ => DiffOptions.DefaultPerTensorTokens };
        var generate = new Option<int>("--generate") { Description = $"greedy-decode N tokens from the first {DiffOptions.GeneratePromptTokens} tokens with each model and report the first step that differs" };
        var maxKl = new Option<double?>("--max-kl") { Description = "gate: exit 1 when a candidate's MEAN KL (nats) is over this" };
        var minTop1 = new Option<double?>("--min-top1") { Description = "gate: exit 1 when a candidate's top-1 agreement (0..1) is under this" };
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout (schema in docs/diff.md)" };
        var report = new Option<string>("--report") { Description = "also write a self-contained HTML report (summary, KL histograms, per-layer curves, per-tensor chart, worst positions) to this file" };
        var force = OutputSafety.ForceOption();
        var exec = new ExecutorFlags(QuantPath.Exact);
        var family = FamilyFlag.Create();
        var cmd = new Command("diff", "Compare candidates with a reference on the same text: KL, top-1, delta-p, perplexity; per layer and per tensor on request; exit 1 when a gate fails.")
        {
            reference, candidates, text, tokens, maxTokens, context, perLayer, perTensor, perTensorTokens, generate, maxKl, minTop1, json, report, force,
        };
        exec.AddTo(cmd);
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(maxKl) is { } k && !(k >= 0)) throw new UsageException($"--max-kl: {k} must be >= 0");
            if (parse.GetValue(minTop1) is { } t && !(t >= 0 && t <= 1)) throw new UsageException($"--min-top1: {t} must be between 0 and 1");
            int g = parse.GetValue(generate);
            if (g is < 0 or > MaxGenerate) throw new UsageException($"--generate: {g} is not between 0 and {MaxGenerate}");
            if (parse.GetValue(perTensorTokens) < 1) throw new UsageException($"--per-tensor-tokens: {parse.GetValue(perTensorTokens)} must be at least 1");
            string refPath = parse.GetValue(reference)!;
            string? reportPath = parse.GetValue(report);
            var hf = family.Options(parse);
            using var refIr = ModelOpener.Open(refPath, hf);
            var opened = new List<ModelIr>();
            try
            {
                var cands = new List<DiffCandidate>();
                foreach (var path in parse.GetValue(candidates)!)
                {
                    var ir = ModelOpener.Open(path, ModelOpener.IsCheckpoint(path) ? hf : null);
                    opened.Add(ir);
                    if (DiffEngine.Incompatibility(refIr, ir, parse.GetValue(perTensor)) is { } why) throw new UsageException($"{path}: {why}");
                    cands.Add(new DiffCandidate(path, ir));
                }
                var (ids, source) = Tokens(parse.GetValue(tokens), parse.GetValue(text), parse.GetValue(maxTokens), refIr);
                int window = parse.GetValue(context) ?? DiffOptions.DefaultContext(refIr.Config);
                if (window < 1 || window > refIr.Config.ContextLength)
                    throw new UsageException($"--context: {window} is not between 1 and the model's context of {refIr.Config.ContextLength}");
                if (parse.GetValue(generate) > 0 && Math.Min(ids.Length, DiffOptions.GeneratePromptTokens) + parse.GetValue(generate) > refIr.Config.ContextLength)
                    throw new UsageException($"--generate: {parse.GetValue(generate)} tokens after the prompt exceed the model's context of {refIr.Config.ContextLength}");
                var options = new DiffOptions
                {
                    Tokens = ids, TextSource = source, Context = window,
                    Executor = exec.Options(parse), PerLayer = parse.GetValue(perLayer), PerTensor = parse.GetValue(perTensor),
                    PerTensorTokens = parse.GetValue(perTensorTokens), Generate = parse.GetValue(generate),
                    MaxMeanKl = parse.GetValue(maxKl), MinTop1 = parse.GetValue(minTop1),
                    Decoder = refIr.Tokenizer is null ? null : new TextTokenizer(refIr.Tokenizer),
                };
                // Checked before the (long) run: a report path we may not replace fails now, not after it.
                if (reportPath is not null)
                    OutputSafety.Check(reportPath, OutputKind.Report, [refPath, .. refIr.SourceFiles, .. cands.Select(c => c.Path)], parse.GetValue(force));
                var outcome = DiffEngine.Run(refPath, refIr, cands, options, ctx.Progress());
                if (reportPath is not null) Reports.DiffReport.WriteHtml(outcome.Result, reportPath);
                if (parse.GetValue(json)) DiffOutput.WriteJson(ctx.Out, outcome, options);
                else DiffOutput.Print(ctx.Out, outcome, options);
                return outcome.Result.Candidates.Any(c => c.Passed == false) ? CliApp.ExitCheckFailed : CliApp.ExitOk;
            }
            finally
            {
                foreach (var ir in opened) ir.Dispose();
            }
        });
        return cmd;
    }

    /// <summary>The token stream: --tokens as given, or a text (--text or the shipped default) tokenized with the reference's tokenizer.</summary>
    internal static (int[] Ids, string Source) Tokens(string? list, string? file, int? maxTokens, ModelIr reference)
    {
        if (list is not null && file is not null) throw new UsageException("--tokens and --text: give one, not both");
        if (maxTokens is < 1) throw new UsageException($"--max-tokens: {maxTokens} must be at least 1");
        int cap = maxTokens ?? int.MaxValue;
        if (list is not null) return (TokenList.Parse(list, reference.Config.VocabSize, MaxTokenIds).Take(cap).ToArray(), "--tokens");
        if (reference.Tokenizer is null) throw new UsageException("--tokens: the reference has no tokenizer, so token ids are needed");
        string content = file is null ? EvaluationText.Default : ReadText(file);
        var ids = new TextTokenizer(reference.Tokenizer).Encode(content);
        if (ids.Count == 0) throw new UsageException($"--text: {file} holds no text");
        return (ids.Take(cap).ToArray(), file ?? EvaluationText.DefaultName);
    }

    private static string ReadText(string file)
    {
        var info = new FileInfo(file);
        if (!info.Exists) throw new UsageException($"--text: {file}: no such file");
        if (info.Length > MaxTextBytes) throw new UsageException($"--text: {file} is {info.Length} bytes, over the {MaxTextBytes} byte limit");
        return File.ReadAllText(file);
    }
}
