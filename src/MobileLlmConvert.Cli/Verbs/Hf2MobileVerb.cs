using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Mobile;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert hf2mobile HF_DIR -o BUNDLE_DIR`: the product's main job. Import, sharing passes,
/// quantization (default int4 group 32 with 8-bit embedding and head), then a bundle directory
/// holding the model file and manifest.json, which appears complete or not at all. `--format onnx`
/// puts an ONNX Runtime GenAI folder's files (formats/onnx.md) in the bundle instead of model.mlcm.
/// `--dry-run` prints the plan instead.
/// </summary>
public sealed class Hf2MobileVerb : IVerb
{
    /// <summary>The bundle format's default scheme: one constant for the library and the CLI.</summary>
    public const string DefaultQuant = MobileFileFormat.DefaultScheme;

    public Command Build(CliContext ctx)
    {
        var target = ModelFormats.GetWritable(MobileBundleFormat.FormatName);
        var source = new Argument<string>("HF_DIR") { Description = "Hugging Face checkpoint directory" };
        var output = new Option<string>("--output", "-o") { Description = "bundle directory to create (a previous bundle there is replaced; see --force)", Required = true };
        var force = OutputSafety.ForceOption();
        var json = new Option<bool>("--json") { Description = "print the report as one JSON document on stdout" };
        var dryRun = DryRun.Option();
        var format = new Option<string>("--format")
        {
            Description = $"the model the bundle holds: {MobileFileFormat.FormatName} (model.mlcm) or {Formats.Onnx.OnnxFormat.FormatName} " +
                $"(model.onnx + model.onnx.data, genai_config.json, tokenizer files: the {Formats.Onnx.OnnxFormat.DefaultProfile} profile ONNX Runtime GenAI runs)",
            DefaultValueFactory = _ => MobileFileFormat.FormatName,
        };
        format.AcceptOnlyFromAmong(MobileFileFormat.FormatName, Formats.Onnx.OnnxFormat.FormatName);
        var quant = new QuantFlags(target.DefaultQuant);
        var sharing = SharingFlags.Create();
        var cmd = new Command("hf2mobile", "Build a device bundle (model file + manifest.json) from a Hugging Face checkpoint.") { source, output, format, json, force, dryRun };
        quant.AddTo(cmd);
        sharing.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            string src = parse.GetValue(source)!, dst = parse.GetValue(output)!;
            if (!ModelOpener.IsCheckpoint(src))
                throw new UsageException($"{src}: hf2mobile takes a Hugging Face checkpoint directory; use 'convert --to {target.Name}' for other inputs");
            string model = parse.GetValue(format)!;
            // An ONNX bundle's types are checked against the ONNX writer (its default scheme is the same q4) before any work.
            bool onnx = MobileBundle.IsOnnx(model);
            var options = sharing.Apply(parse, quant.Apply(parse, new ConvertOptions { Target = onnx ? Formats.Onnx.OnnxFormat.FormatName : target.Name, Progress = ctx.Progress() }));
            var policy = options.Policy();
            var sharingOptions = options.Sharing;
            using var ir = ModelOpener.Open(src, family.Options(parse));
            OutputSafety.Check(dst, OutputKind.Bundle, [src, .. ir.SourceFiles], parse.GetValue(force));
            if (parse.GetValue(dryRun))
            {
                DryRun.Print(ctx, parse.GetValue(json), "hf2mobile", src, ModelOpener.Detect(src).Name, dst, target.Name, Pipeline.Plan(ir, options));
                return CliApp.ExitOk;
            }

            using var converted = Pipeline.Run(ir, options);
            var conversion = ConversionReport.From(converted);
            conversion.PrintWarnings(ctx);
            var recorded = new SortedDictionary<string, string>(StringComparer.Ordinal);
            quant.Record(parse, recorded, policy);
            recorded["tie"] = (!sharingOptions.NoTie).ToString().ToLowerInvariant();
            recorded["dedup"] = (!sharingOptions.NoDedup).ToString().ToLowerInvariant();
            recorded["fold_gqa"] = (!sharingOptions.NoFoldGqa).ToString().ToLowerInvariant();
            var written = Models.Write(conversion.Result, dst, new WriteOptions
            {
                Format = target.Name,
                BundleModel = model,
                // The folder the importer read: a cache repo folder's snapshot, not the repo folder.
                SourceCheckpointSha256 = Models.CheckpointSha256(ir, ctx.Progress()),
                RecordedOptions = recorded,
                Progress = ctx.Progress(),
                Quality = converted.Budget?.Quality,
            });
            var manifest = written.Manifest!;
            long bytes = written.Bytes;
            if (parse.GetValue(json))
            {
                JsonContract.Write(ctx.Out, "hf2mobile", w =>
                {
                    conversion.WriteJson(w, src, dst, HuggingFaceFormat.FormatName, target.Name, bytes);
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
