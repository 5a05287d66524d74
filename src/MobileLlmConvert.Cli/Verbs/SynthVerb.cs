using System.CommandLine;
using System.Diagnostics;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert synth`: writes a random-weight checkpoint in the exact Hugging Face layout of a real
/// model's shape. Bench scripts and tests generate full-size checkpoints with it at run time, so the
/// repository never carries large files and nothing is fetched from a hub.
/// </summary>
public sealed class SynthVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var preset = new Option<string>("--preset") { Description = "shape to generate: " + string.Join(", ", SyntheticPresets.All.Select(p => p.Name)), Required = true };
        var ls = new Option<bool>("--layer-sharing") { Description = "MobileLLM-LS: every stored block executes twice" };
        var dtype = new Option<string>("--dtype") { Description = "f32, f16 or bf16 (default: the preset's)" };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--output", "-o") { Description = "checkpoint directory to write (must not exist or be empty; see --force)", Required = true };
        var force = OutputSafety.ForceOption();
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout" };
        var cmd = new Command("synth", "Write a random-weight Hugging Face checkpoint of a known model shape (for benchmarks).")
        {
            preset, ls, dtype, seed, output, force, json,
        };
        cmd.SetAction(parse =>
        {
            string name = parse.GetValue(preset)!;
            var chosen = SyntheticPresets.Find(name)
                ?? throw new UsageException($"--preset: unknown '{name}' (known: {string.Join(", ", SyntheticPresets.All.Select(p => p.Name))})");
            var spec = chosen.Spec with { Seed = parse.GetValue(seed) };
            if (parse.GetValue(ls))
            {
                if (spec.Family != ModelFamily.MobileLLM) throw new UsageException("--layer-sharing: only MobileLLM presets have layer-shared variants");
                spec = spec with { LayerSharing = true };
            }
            if (parse.GetValue(dtype) is { } dt)
            {
                if (!ElementTypes.TryParse(dt, out var t) || t.Info().IsQuantized) throw new UsageException($"--dtype: '{dt}' is not f32, f16 or bf16");
                spec = spec with { DType = t };
            }
            string dir = parse.GetValue(output)!;
            OutputSafety.Check(dir, OutputKind.Checkpoint, [], parse.GetValue(force));
            var clock = Stopwatch.StartNew();
            using var ir = chosen.Create(TensorNames.HuggingFace, spec);
            HfExporter.Export(ir, dir, new HfExportOptions());
            if (parse.GetValue(json))
            {
                long written = Directory.EnumerateFiles(dir).Sum(f => new FileInfo(f).Length);
                JsonContract.Write(ctx.Out, "synth", w =>
                {
                    w.WriteString("output", dir);
                    w.WriteFormat(null, "huggingface");
                    w.WriteString("preset", name);
                    w.WriteBoolean("layer_sharing", spec.LayerSharing);
                    w.WriteString("dtype", spec.DType.Info().Name);
                    w.WriteNumber("seed", spec.Seed);
                    w.WriteParameters(ir.StoredParameters, ir.ExecutedParameters);
                    w.WriteBytes(ir.StoredBytes, written);
                    w.WriteSeconds(clock.Elapsed);
                });
                return CliApp.ExitOk;
            }
            ctx.Err.WriteLine(CliApp.Line($"synth: {name}{(spec.LayerSharing ? " (layer-shared)" : "")}: {Format.Count(ir.StoredParameters)} parameters -> {dir} in {Format.Seconds(clock.Elapsed)}"));
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
