using System.CommandLine;
using System.Globalization;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert verify MODEL --reference HF_DIR`: runs the converted model and the Hugging Face
/// reference on the same tokens and reports top-1 agreement, mean and max KL divergence and the
/// largest logit error. Exit code 1 when max KL is over --max-kl, so a CI job can gate a release.
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
        var maxKl = new Option<double>("--max-kl") { Description = $"fail (exit 1) when max KL divergence exceeds this (default {DefaultMaxKl})", DefaultValueFactory = _ => DefaultMaxKl };
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
            // --family is how the reference was read; a candidate that is itself a checkpoint is read the same way.
            var hf = family.Options(parse);
            using var refIr = ModelOpener.Open(refPath, hf);
            using var candidate = ModelOpener.Open(modelPath, ModelOpener.IsCheckpoint(modelPath) ? hf : null);
            CheckCompatible(refIr, candidate, modelPath);
            var ids = Tokens(parse, tokens, text, maxTokens, refIr);
            var options = exec.Options(parse, maxContext: ids.Length);
            float[] expected, actual;
            using (var t = new Transformer(refIr, options)) expected = t.Forward(ids);
            using (var t = new Transformer(candidate, options)) actual = t.Forward(ids);
            var cmp = LogitComparison.Compare(expected, actual, refIr.Config.VocabSize);
            bool pass = cmp.MaxKl <= threshold;
            if (parse.GetValue(json))
            {
                JsonOut.Write(ctx.Out, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("model", modelPath);
                    w.WriteString("reference", refPath);
                    w.WriteNumber("positions", cmp.Positions);
                    w.WriteNumber("top1_agreement", cmp.Top1Agreement);
                    w.WriteNumber("mean_kl", cmp.MeanKl);
                    w.WriteNumber("max_kl", cmp.MaxKl);
                    w.WriteNumber("max_abs_logit_error", cmp.MaxAbsLogitError);
                    w.WriteNumber("max_abs_probability_error", cmp.MaxAbsProbabilityError);
                    w.WriteNumber("max_kl_threshold", threshold);
                    w.WriteBoolean("pass", pass);
                    w.WriteEndObject();
                });
            }
            else
            {
                var inv = CultureInfo.InvariantCulture;
                ctx.Out.WriteLine($"{modelPath} vs {refPath}: {cmp.Positions} positions");
                ctx.Out.WriteLine(string.Create(inv, $"top-1 agreement: {cmp.Top1Agreements}/{cmp.Positions} ({cmp.Top1Agreement:P1})"));
                ctx.Out.WriteLine(string.Create(inv, $"KL divergence: mean {cmp.MeanKl:G4}, max {cmp.MaxKl:G4} nats (threshold {threshold:G4})"));
                ctx.Out.WriteLine(string.Create(inv, $"max abs logit error: {cmp.MaxAbsLogitError:G4}; max abs probability error: {cmp.MaxAbsProbabilityError:G4}"));
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
            JsonOut.Write(ctx.Out, w =>
            {
                w.WriteStartObject();
                w.WriteString("bundle", dir);
                w.WriteNumber("files", manifest.Files.Count);
                w.WriteNumber("bytes", bytes);
                w.WriteBoolean("pass", true);
                w.WriteEndObject();
            });
        }
        else
        {
            ctx.Out.WriteLine($"{CliApp.Line(dir)}: bundle OK: {manifest.Files.Count} file(s), {Format.Bytes(bytes)}, sizes and sha256 match the manifest");
        }
        return CliApp.ExitOk;
    }

    private static void CheckCompatible(ModelIr reference, ModelIr candidate, string path)
    {
        if (reference.Config.VocabSize != candidate.Config.VocabSize)
            throw new UsageException($"{path}: vocabulary of {candidate.Config.VocabSize} does not match the reference's {reference.Config.VocabSize}");
        if (reference.Config.HiddenSize != candidate.Config.HiddenSize || reference.Steps.Count != candidate.Steps.Count)
            throw new UsageException($"{path}: not a conversion of the reference (hidden {candidate.Config.HiddenSize} vs {reference.Config.HiddenSize}, {candidate.Steps.Count} vs {reference.Steps.Count} layer steps)");
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
