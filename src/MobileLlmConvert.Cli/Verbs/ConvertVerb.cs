using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert convert SRC --to FORMAT -o OUT`: open (any registered format), sharing passes, optional
/// quantization, one output written atomically by the target format. `--to` accepts exactly the
/// registry's writable formats. A progress bar on a terminal, a summary line at the end; `--dry-run`
/// prints the plan instead.
/// </summary>
public sealed class ConvertVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var source = new Argument<string>("SRC") { Description = "Hugging Face directory, .gguf file or mobile bundle/model file" };
        var to = new Option<string>("--to")
        {
            Description = string.Join("; ", ModelFormats.Writable.Select(f => $"{f.Name}: {f.Summary}")),
            Required = true,
        };
        to.AcceptOnlyFromAmong([.. ModelFormats.Writable.Select(f => f.Name)]);
        var output = new Option<string>("--output", "-o") { Description = "file or bundle directory to write (a previous output of ours there is replaced; see --force)", Required = true };
        var force = OutputSafety.ForceOption();
        var dtype = new Option<string>("--dtype")
        {
            Description = $"float type of unquantized matrices for {string.Join(", ", ModelFormats.Writable.Where(f => f.UsesFloatType).Select(f => f.Name))}: f32 or f16 " +
                $"(default {Formats.Gguf.GgufWriteOptions.DefaultFloatType.Info().Name}); norms stay f32",
        };
        var onnxProfile = new Option<string>("--onnx-profile")
        {
            Description = $"graph profile for --to onnx: {Formats.Onnx.OnnxFormat.ProfileNames} (default {Formats.Onnx.OnnxFormat.DefaultProfile}: ONNX Runtime contrib ops, as ONNX Runtime GenAI runs)",
        };
        var json = new Option<bool>("--json") { Description = "print the report as one JSON document on stdout" };
        var dryRun = DryRun.Option();
        var quant = new QuantFlags(defaultScheme: null);
        var sharing = SharingFlags.Create();
        var cmd = new Command("convert", $"Convert a model to {string.Join(", ", ModelFormats.Writable.Select(f => f.Name))} (sharing passes, optional quantization).") { source, to, output, dtype, onnxProfile, json, force, dryRun };
        quant.AddTo(cmd);
        sharing.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            string src = parse.GetValue(source)!, dst = parse.GetValue(output)!;
            var target = ModelFormats.GetWritable(parse.GetValue(to)!);
            var floatType = FloatType(target, parse.GetValue(dtype));
            string profile = OnnxProfile(target, parse.GetValue(onnxProfile));
            var options = sharing.Apply(parse, quant.Apply(parse, new ConvertOptions { Target = target.Name, Progress = ctx.Progress() }));
            options.Policy(); // a bad scheme or a type the target cannot store: refused before the model is opened
            var inputFormat = ModelOpener.Detect(src);
            using var ir = ModelOpener.Open(src, family.Options(parse));
            OutputSafety.Check(dst, target.IsDirectory ? OutputKind.Bundle : OutputKind.ModelFile, [src, .. ir.SourceFiles], parse.GetValue(force));

            if (parse.GetValue(dryRun))
            {
                DryRun.Print(ctx, parse.GetValue(json), "convert", src, inputFormat.Name, dst, target.Name, Pipeline.Plan(ir, options));
                return CliApp.ExitOk;
            }
            using var converted = Pipeline.Run(ir, options);
            var conversion = ConversionReport.From(converted);
            conversion.PrintWarnings(ctx);
            var written = Models.Write(conversion.Result, dst, new WriteOptions
            {
                Format = target.Name,
                FloatType = floatType,
                OnnxProfile = profile,
                // A Hugging Face cache snapshot's folder is a commit hash: name the model after its repo.
                ModelName = HfCheckpointDir.CacheRepoName(ir.SourcePath ?? src) ?? Path.GetFileName(Path.GetFullPath(src).TrimEnd('/')),
                SourceCheckpointSha256 = target.IsDirectory ? Models.CheckpointSha256(ir, ctx.Progress()) : null,
                Progress = ctx.Progress(),
                Quality = converted.Budget?.Quality,
            });
            long bytes = written.Bytes;
            if (parse.GetValue(json))
            {
                JsonContract.Write(ctx.Out, "convert", w => conversion.WriteJson(w, src, dst, inputFormat.Name, target.Name, bytes));
            }
            else
            {
                conversion.PrintNotes(ctx.Err);
                ctx.Err.WriteLine(conversion.Summary("convert", src, dst, bytes));
            }
            return CliApp.ExitOk;
        });
        return cmd;
    }

    /// <summary>The --onnx-profile value, checked before any work: only for --to onnx, and a known name.</summary>
    internal static string OnnxProfile(IModelFormat target, string? profile)
    {
        if (profile is null) return Formats.Onnx.OnnxFormat.DefaultProfile;
        if (target.Name != Formats.Onnx.OnnxFormat.FormatName) throw new UsageException($"--onnx-profile applies to --to {Formats.Onnx.OnnxFormat.FormatName}, not {target.Name}");
        Formats.Onnx.OnnxFormat.CheckProfile(profile);
        return profile.ToLowerInvariant();
    }

    private static ElementType FloatType(IModelFormat target, string? dtype)
    {
        if (dtype is null) return Formats.Gguf.GgufWriteOptions.DefaultFloatType;
        if (!target.UsesFloatType) throw new UsageException($"--dtype applies to --to {string.Join(", ", ModelFormats.Writable.Where(f => f.UsesFloatType).Select(f => f.Name))}; for {target.Name} use --quant f16 or --quant f32");
        return dtype.ToLowerInvariant() switch
        {
            "f32" => ElementType.F32,
            "f16" => ElementType.F16,
            _ => throw new UsageException($"--dtype: '{dtype}' is not f32 or f16"),
        };
    }
}
