using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>`mlconvert bench MODEL [--runtime ours|ort]`: prefill and decode tokens/s and peak memory of our executor or ONNX Runtime on a model.</summary>
public sealed class BenchVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "Hugging Face directory, .gguf file, mobile bundle or model file" };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "prefill length", DefaultValueFactory = _ => BenchOptions.DefaultPromptTokens };
        var genTokens = new Option<int>("--gen-tokens") { Description = "decode steps", DefaultValueFactory = _ => BenchOptions.DefaultGenTokens };
        var depth = new Option<int>("--depth") { Description = "positions already cached when prefill and decode start (llama-bench -d)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout" };
        var exec = new ExecutorFlags(ExecutorOptions.GenerationQuantPath);
        var cmd = new Command("bench", "Measure prefill and decode speed and peak memory.") { model, promptTokens, genTokens, depth, json };
        exec.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            int p = parse.GetValue(promptTokens), g = parse.GetValue(genTokens), d = parse.GetValue(depth);
            if (p < 1 || g < 1) throw new UsageException("--prompt-tokens and --gen-tokens must be at least 1");
            if (d < 0) throw new UsageException("--depth must not be negative");
            string path = parse.GetValue(model)!;
            string runtime = exec.RuntimeName(parse, path);
            var kind = ModelOpener.Detect(path);
            using var ir = ModelOpener.Open(path, family.Options(parse));
            long need = (long)d + Math.Max(p, g);
            if (need > ir.Config.ContextLength)
                throw new UsageException($"--depth + max(--prompt-tokens, --gen-tokens) = {need} exceeds the model's context of {ir.Config.ContextLength}");
            var options = new BenchOptions { Threads = exec.Threads(parse), PromptTokens = p, GenTokens = g, Depth = d, QuantPath = exec.Path(parse) };
            BenchResult r;
            using (var m = exec.Open(parse, path, ir, maxContext: Benchmark.ContextNeeded(options))) r = Benchmark.Run(m, options);
            if (parse.GetValue(json))
            {
                JsonContract.Write(ctx.Out, "bench", w =>
                {
                    w.WriteString("input", path);
                    w.WriteFormat(kind.Name, null);
                    w.WriteString("runtime", runtime);
                    w.WriteNumber("threads", r.Threads);
                    w.WriteString("quant_path", exec.Path(parse).ToString().ToLowerInvariant());
                    w.WriteNumber("prompt_tokens", r.PromptTokens);
                    w.WriteNumber("gen_tokens", r.GenTokens);
                    w.WriteNumber("depth", r.Depth);
                    w.WriteNumber("prefill_tokens_per_s", Math.Round(r.PrefillTokensPerSecond, 2));
                    w.WriteNumber("decode_tokens_per_s", Math.Round(r.DecodeTokensPerSecond, 2));
                    w.WriteNumber("peak_working_set_bytes", r.PeakWorkingSetBytes);
                });
            }
            else
            {
                ctx.Out.WriteLine(CliApp.Line(runtime == Runtimes.Name(RuntimeKind.Ours)
                    ? $"{path}: {r.Threads} threads, {exec.Path(parse).ToString().ToLowerInvariant()} quant path, depth {r.Depth}"
                    : $"{path}: {r.Threads} threads, runtime {runtime}, depth {r.Depth}"));
                ctx.Out.WriteLine($"prefill: {r.PromptTokens} tokens in {Format.Seconds(r.PrefillTime)} = {r.PrefillTokensPerSecond:0.0} tokens/s");
                ctx.Out.WriteLine($"decode:  {r.GenTokens} tokens in {Format.Seconds(r.DecodeTime)} = {r.DecodeTokensPerSecond:0.0} tokens/s");
                ctx.Out.WriteLine($"peak working set: {Format.Bytes(r.PeakWorkingSetBytes)}");
            }
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
