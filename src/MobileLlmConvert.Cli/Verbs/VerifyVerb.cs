using System.CommandLine;
using System.Globalization;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert verify MODEL --reference HF_DIR`: runs the converted model and the Hugging Face
/// reference on the same tokens and reports top-1 agreement, mean and max KL divergence and the
/// largest logit error. Exit code 1 when max KL is over --max-kl, so a CI job can gate a release.
/// It is `diff` with one candidate and one window (the same DiffEngine, so the same numbers).
/// `verify BUNDLE --bundle-only` checks a bundle against its manifest without running anything
/// (file types, names, sizes, SHA-256, no unlisted files): exit 0 or 2 with one line.
/// </summary>
public sealed class VerifyVerb : IVerb
{
    /// <summary>Used when neither --tokens nor --text is given: plain English the LLaMA vocabulary covers.</summary>
    internal const string DefaultText = "Once upon a time, there was a little robot who lived in a quiet town by the sea. Every morning it walked to the harbour to watch the boats.";
    public const double DefaultMaxKl = 0.1;

    public Command Build(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "converted model: .gguf file, mobile bundle or model file (or another HF directory)" };
        var reference = new Option<string>("--reference") { Description = "the Hugging Face checkpoint it was converted from (required unless --bundle-only)" };
        var bundleOnly = new Option<bool>("--bundle-only") { Description = "only check a bundle against its manifest (names, types, sizes, sha256, no unlisted files); runs no model" };
        var tokens = new Option<string>("--tokens") { Description = "comma-separated token ids to evaluate" };
        var text = new Option<string>("--text") { Description = "a UTF-8 text file to tokenize (with the reference's tokenizer) and evaluate" };
        var maxKl = new Option<double>("--max-kl") { Description = $"fail (exit 1) when the LARGEST per-position KL divergence exceeds this (diff's --max-kl gates the mean)", DefaultValueFactory = _ => DefaultMaxKl };
        var maxTokens = new Option<int>("--max-tokens") { Description = "evaluate at most this many tokens of --text", DefaultValueFactory = _ => 256 };
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout" };
        var exec = new ExecutorFlags(ExecutorOptions.DefaultQuantPath);
        var cmd = new Command("verify", "Compare a converted model's logits with its Hugging Face reference; exit 1 over threshold.")
        {
            model, reference, bundleOnly, tokens, text, maxKl, maxTokens, json,
        };
        exec.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            double threshold = parse.GetValue(maxKl);
            if (!(threshold >= 0)) throw new UsageException($"--max-kl: {threshold} must be >= 0");
            string modelPath = parse.GetValue(model)!;
            if (parse.GetValue(bundleOnly)) return VerifyBundle(ctx, modelPath, parse.GetValue(json));
            string refPath = parse.GetValue(reference) ?? throw new UsageException("--reference: required (the Hugging Face checkpoint the model was converted from), unless --bundle-only");
            if (!ModelOpener.IsCheckpoint(refPath))
                throw new UsageException($"--reference: {refPath} is not a Hugging Face checkpoint directory");
            var runtime = exec.Runtime(parse, modelPath);
            // --family is how the reference was read; a candidate that is itself a checkpoint is read the same way.
            var hf = family.Options(parse);
            using var refIr = ModelOpener.Open(refPath, hf);
            using var candidate = ModelOpener.Open(modelPath, ModelOpener.IsCheckpoint(modelPath) ? hf : null);
            if (DiffEngine.Incompatibility(refIr, candidate, perTensor: false) is { } why) throw new UsageException($"{modelPath}: {why}");
            var ids = Tokens(parse, tokens, text, maxTokens, refIr);
            // The one-candidate shortcut of `diff REF MODEL --tokens IDS --context N`: the same engine,
            // one window of every token, so its KL, top-1 and perplexity equal diff's on those tokens.
            var options = new DiffOptions
            {
                Tokens = ids, TextSource = parse.GetValue(tokens) is null ? parse.GetValue(text) ?? "default text" : "--tokens",
                Context = ids.Length, Executor = exec.Options(parse), WorstCount = 0,
            };
            // --runtime ort: ONNX Runtime computes the candidate's logits (the IR read first checks the folder); the reference is always our executor on the checkpoint.
            var run = new DiffCandidate(modelPath, candidate, runtime == RuntimeKind.Ours ? null : o => Runtimes.Open(modelPath, candidate, runtime, o));
            var outcome = DiffEngine.Run(refPath, refIr, [run], options);
            var cmp = outcome.Result.Candidates[0];
            var errors = outcome.Errors[0];
            // verify gates the LARGEST per-position KL: it checks a conversion, where one broken
            // position is a failure; diff's --max-kl gates the mean (an accuracy budget).
            bool pass = cmp.Kl.Max <= threshold;
            int agreements = (int)Math.Round(cmp.Top1Agreement * ids.Length);
            if (parse.GetValue(json))
            {
                JsonContract.Write(ctx.Out, "verify", w =>
                {
                    w.WriteString("input", modelPath);
                    w.WriteString("reference", refPath);
                    w.WriteString("runtime", Runtimes.Name(runtime));
                    w.WriteNumber("tokens_scored", ids.Length);
                    DiffOutput.WriteCandidate(w, cmp);
                    w.WriteNumber("positions", ids.Length);
                    DiffOutput.Number(w, "mean_kl", cmp.Kl.Mean);
                    DiffOutput.Number(w, "max_kl", cmp.Kl.Max);
                    DiffOutput.Number(w, "max_abs_logit_error", errors.MaxAbsLogit);
                    DiffOutput.Number(w, "max_abs_probability_error", errors.MaxAbsProbability);
                    w.WriteNumber("max_kl_threshold", threshold);
                    w.WriteBoolean("pass", pass);
                });
            }
            else
            {
                var inv = CultureInfo.InvariantCulture;
                ctx.Out.WriteLine($"{modelPath}{(runtime == RuntimeKind.Ours ? "" : " (run by " + Runtimes.Name(runtime) + ")")} vs {refPath}: {ids.Length} positions");
                ctx.Out.WriteLine(string.Create(inv, $"top-1 agreement: {agreements}/{ids.Length} ({cmp.Top1Agreement:P1})"));
                ctx.Out.WriteLine(string.Create(inv, $"KL divergence: mean {cmp.Kl.Mean:G4}, max {cmp.Kl.Max:G4} nats (threshold on max {threshold:G4})"));
                ctx.Out.WriteLine(string.Create(inv, $"max abs logit error: {errors.MaxAbsLogit:G4}; max abs probability error: {errors.MaxAbsProbability:G4}"));
                ctx.Out.WriteLine(string.Create(inv, $"perplexity: reference {cmp.Ppl.Reference:G6}, candidate {cmp.Ppl.Candidate:G6}; delta-p mean {cmp.DeltaP.Mean:G4}"));
                ctx.Out.WriteLine(pass ? "PASS" : "FAIL: max KL divergence over threshold");
            }
            return pass ? CliApp.ExitOk : CliApp.ExitCheckFailed;
        });
        return cmd;
    }

    private static int VerifyBundle(CliContext ctx, string path, bool json)
    {
        if (MobileBundle.BundleDirOf(path) is not { } dir)
            throw new UsageException($"--bundle-only: {path} is not a bundle directory (no {MobileBundle.ManifestFileName})");
        var manifest = MobileBundle.VerifyManifest(dir);
        long bytes = manifest.Files.Sum(f => f.Bytes);
        if (json)
        {
            JsonContract.Write(ctx.Out, "verify", w =>
            {
                w.WriteString("input", dir);
                w.WriteFormat(Formats.Mobile.MobileBundleFormat.FormatName, null);
                w.WriteNumber("files", manifest.Files.Count);
                w.WriteNumber("file_bytes", bytes);
                w.WriteBoolean("pass", true);
            });
        }
        else
        {
            ctx.Out.WriteLine($"{CliApp.Line(dir)}: bundle OK: {manifest.Files.Count} file(s), {Format.Bytes(bytes)}, sizes and sha256 match the manifest");
        }
        return CliApp.ExitOk;
    }

    private static int[] Tokens(ParseResult parse, Option<string> tokens, Option<string> text, Option<int> maxTokens, ModelIr reference)
    {
        string? list = parse.GetValue(tokens), file = parse.GetValue(text);
        if (list is not null && file is not null) throw new UsageException("--tokens and --text: give one, not both");
        if (list is not null) return TokenList.Parse(list, reference.Config.VocabSize, reference.Config.ContextLength);
        int cap = parse.GetValue(maxTokens);
        if (cap < 1) throw new UsageException($"--max-tokens: {cap} must be at least 1");
        if (reference.Tokenizer is null) throw new UsageException("--tokens: the reference has no tokenizer, so token ids are needed");
        string content = file is null ? DefaultText : File.ReadAllText(file);
        var ids = new TextTokenizer(reference.Tokenizer).Encode(content);
        if (ids.Count == 0) throw new UsageException($"--text: {file} holds no text");
        return ids.Take(Math.Min(cap, reference.Config.ContextLength)).ToArray();
    }
}
