using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Formats.Mobile;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert hf2mobile HF_DIR -o BUNDLE_DIR`: the product's main job. Import, sharing passes,
/// quantization (default int4 group 32 with 8-bit embedding and head), then a bundle directory
/// holding the model file and manifest.json, which appears complete or not at all.
/// </summary>
public sealed class Hf2MobileVerb : IVerb
{
    public const string DefaultQuant = "q4";

    public Command Build(CliContext ctx)
    {
        var source = new Argument<string>("HF_DIR") { Description = "Hugging Face checkpoint directory" };
        var output = new Option<string>("--output", "-o") { Description = "bundle directory to create (a previous bundle there is replaced; see --force)", Required = true };
        var force = OutputSafety.ForceOption();
        var json = new Option<bool>("--json") { Description = "print the report as one JSON document on stdout" };
        var quant = new QuantFlags(DefaultQuant);
        var sharing = SharingFlags.Create();
        var cmd = new Command("hf2mobile", "Build a device bundle (model file + manifest.json) from a Hugging Face checkpoint.") { source, output, json, force };
        quant.AddTo(cmd);
        sharing.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            string src = parse.GetValue(source)!, dst = parse.GetValue(output)!;
            if (ModelOpener.Detect(src) != ModelKind.HuggingFace)
                throw new UsageException($"{src}: hf2mobile takes a Hugging Face checkpoint directory; use 'convert --to mobile' for other inputs");
            var policy = quant.Policy(parse)!;
            var sharingOptions = sharing.Options(parse);
            using var ir = ModelOpener.Open(src, family.Options(parse));
            OutputSafety.Check(dst, OutputKind.Bundle, [src, .. ir.SourceFiles], parse.GetValue(force));

            var conversion = Conversion.Run(ir, sharingOptions, policy);
            conversion.PrintWarnings(ctx);
            var options = new SortedDictionary<string, string>(StringComparer.Ordinal);
            quant.Record(parse, options, policy);
            options["tie"] = (!sharingOptions.NoTie).ToString().ToLowerInvariant();
            options["dedup"] = (!sharingOptions.NoDedup).ToString().ToLowerInvariant();
            options["fold_gqa"] = (!sharingOptions.NoFoldGqa).ToString().ToLowerInvariant();
            var manifest = MobileBundle.Write(dst, conversion.Result, new BundleOptions
            {
                // The folder the importer read: a cache repo folder's snapshot, not the repo folder.
                SourceCheckpointSha256 = CheckpointHash.Compute(ir.SourcePath ?? src, ir.SourceFiles),
                Options = options,
                Progress = ctx.Progress(),
            });
            long bytes = manifest.Files.Sum(f => f.Bytes);
            if (parse.GetValue(json))
            {
                JsonContract.Write(ctx.Out, "hf2mobile", w =>
                {
                    conversion.WriteJson(w, src, dst, ModelKind.HuggingFace, "mobile", bytes);
                    // The manifest exactly as written in the bundle (files with bytes and sha256, options, counts).
                    w.WritePropertyName("manifest");
                    w.WriteRawValue(manifest.ToJson());
                });
            }
            else
            {
                conversion.PrintNotes(ctx.Err);
                ctx.Err.WriteLine(conversion.Summary("hf2mobile", src, dst, bytes));
            }
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
