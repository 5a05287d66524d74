using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Core.IO;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert convert SRC --to gguf|mobile -o OUT`: import, sharing passes, optional quantization,
/// one output file written atomically. A progress bar on a terminal, a summary line at the end.
/// </summary>
public sealed class ConvertVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var source = new Argument<string>("SRC") { Description = "Hugging Face directory, .gguf file or mobile bundle/model file" };
        var to = new Option<string>("--to") { Description = "gguf or mobile", Required = true };
        to.AcceptOnlyFromAmong("gguf", "mobile");
        var output = new Option<string>("--output", "-o") { Description = "file to write (a previous output of ours there is replaced; see --force)", Required = true };
        var force = OutputSafety.ForceOption();
        var dtype = new Option<string>("--dtype") { Description = "GGUF only: float type of unquantized matrices, f32 or f16 (default f16); norms stay f32" };
        var json = new Option<bool>("--json") { Description = "print the report as one JSON document on stdout" };
        var quant = new QuantFlags(defaultScheme: null);
        var sharing = SharingFlags.Create();
        var cmd = new Command("convert", "Convert a model to GGUF or the mobile format (sharing passes, optional quantization).") { source, to, output, dtype, json, force };
        quant.AddTo(cmd);
        sharing.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            string src = parse.GetValue(source)!, dst = parse.GetValue(output)!, target = parse.GetValue(to)!;
            var floatType = FloatType(target, parse.GetValue(dtype));
            var policy = quant.Policy(parse);
            if (target == "mobile" && policy is null) policy = Core.Passes.QuantPolicy.Parse(Hf2MobileVerb.DefaultQuant);
            if (target == "gguf" && policy is { IsQuantized: true }
                && Formats.Gguf.GgufConstants.FromIrType(Core.Passes.QuantPolicy.TypeOf(policy.Scheme, policy.GroupSize)) is null)
                throw new UsageException($"--to gguf: GGUF has only ggml's block types ({Formats.Gguf.GgufConstants.SupportedTypeNames.ToLowerInvariant()}); --quant {quant.Scheme(parse)} asks for group {policy.GroupSize}");
            using var ir = ModelOpener.Open(src, family.Options(parse));
            OutputSafety.Check(dst, OutputKind.ModelFile, [src, .. ir.SourceFiles], parse.GetValue(force));

            var conversion = Conversion.Run(ir, sharing.Options(parse), policy);
            conversion.PrintWarnings(ctx);
            if (target == "gguf")
            {
                GgufWriter.Write(conversion.Result, dst, new GgufWriteOptions
                {
                    FloatType = floatType,
                    // A Hugging Face cache snapshot's folder is a commit hash: name the model after its repo.
                    ModelName = HfCheckpointDir.CacheRepoName(ir.SourcePath ?? src) ?? Path.GetFileName(Path.GetFullPath(src).TrimEnd('/')),
                    Progress = ctx.Progress(),
                });
            }
            else
            {
                AtomicFile.Write(dst, stream => MobileWriter.Write(conversion.Result, stream, new MobileWriteOptions { Progress = ctx.Progress() }));
            }
            long bytes = new FileInfo(dst).Length;
            if (parse.GetValue(json))
            {
                JsonOut.Write(ctx.Out, w =>
                {
                    w.WriteStartObject();
                    conversion.WriteJson(w, src, dst, target, bytes);
                    w.WriteEndObject();
                });
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

    private static ElementType FloatType(string target, string? dtype)
    {
        if (dtype is null) return ElementType.F16;
        if (target != "gguf") throw new UsageException("--dtype applies to --to gguf; for the mobile format use --quant f16 or --quant f32");
        return dtype.ToLowerInvariant() switch
        {
            "f32" => ElementType.F32,
            "f16" => ElementType.F16,
            _ => throw new UsageException($"--dtype: '{dtype}' is not f32 or f16"),
        };
    }
}
