using System.CommandLine;
using System.Diagnostics;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert generate MODEL --prompt "..."`: greedy by default; text streams to stdout as it is
/// decoded after the echoed prompt, a one-line summary (tokens, speed) goes to stderr. With --json
/// nothing streams: one document with the prompt, the continuation, its ids and the speed.
/// </summary>
public sealed class GenerateVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "Hugging Face directory, .gguf file, mobile bundle or model file" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "text to continue", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens to generate at most", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "sampling temperature; 0 = greedy", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling threshold in (0, 1]", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong>("--seed") { Description = "sampler seed (same seed, same text)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout instead of streaming text" };
        var exec = new ExecutorFlags(ExecutorOptions.GenerationQuantPath);
        var cmd = new Command("generate", "Generate text from a prompt (greedy by default), streaming.") { model, prompt, maxTokens, temperature, topP, seed, json };
        exec.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            int n = parse.GetValue(maxTokens);
            if (n < 1) throw new UsageException($"--max-tokens: {n} must be at least 1");
            float temp = parse.GetValue(temperature), p = parse.GetValue(topP);
            if (!(temp >= 0) || float.IsInfinity(temp)) throw new UsageException($"--temperature: {temp} must be a finite number >= 0");
            if (!(p > 0 && p <= 1)) throw new UsageException($"--top-p: {p} must be in (0, 1]");
            string path = parse.GetValue(model)!;
            bool asJson = parse.GetValue(json);
            string runtime = exec.RuntimeName(parse, path);
            var kind = ModelOpener.Detect(path);
            using var ir = ModelOpener.Open(path, family.Options(parse));
            if (ir.Tokenizer is null) throw new UsageException($"{path}: the model has no tokenizer; use 'mlconvert logits --tokens' instead");
            var tokenizer = new TextTokenizer(ir.Tokenizer);
            var ids = tokenizer.Encode(parse.GetValue(prompt)!);
            // An empty prompt is fine when the tokenizer adds BOS (generation starts from it); with no BOS there is nothing to continue.
            if (ids.Count == 0)
                throw new UsageException("--prompt: the text encodes to no tokens and this tokenizer adds no BOS; give a non-empty prompt");
            int context = Math.Min(ir.Config.ContextLength, ids.Count + n);
            if (ids.Count >= context)
                throw new UsageException($"--prompt: {ids.Count} tokens leave no room in the model's {ir.Config.ContextLength}-token context");
            using var t = exec.Open(parse, path, ir, maxContext: context);
            var sampler = new Sampler(ir.Config.VocabSize, new SamplerOptions { Temperature = temp, TopP = p, Seed = parse.GetValue(seed) });
            // The prompt is echoed as given and the continuation streams after it, so the decoder
            // must not treat the first generated piece as the start of the text (it would drop its space).
            string promptText = parse.GetValue(prompt)!;
            if (!asJson) ctx.Out.Write(promptText);
            var decoder = tokenizer.CreateStreamingDecoder(startOfText: false);
            var clock = Stopwatch.StartNew();
            var produced = new List<int>();
            var text = new System.Text.StringBuilder();
            foreach (var id in new Generator(t, sampler).Generate(ids, context - ids.Count, tokenizer.EosId))
            {
                produced.Add(id);
                string piece = decoder.Push(id);
                if (asJson)
                {
                    text.Append(piece);
                    continue;
                }
                ctx.Out.Write(piece);
                ctx.Out.Flush();
            }
            string tail = decoder.Flush();
            text.Append(tail);
            var elapsed = clock.Elapsed;
            double rate = produced.Count / Math.Max(elapsed.TotalSeconds, 1e-9);
            if (asJson)
            {
                JsonContract.Write(ctx.Out, "generate", w =>
                {
                    w.WriteString("input", path);
                    w.WriteFormat(kind.Name, null);
                    w.WriteString("runtime", runtime);
                    w.WriteString("prompt", promptText);
                    w.WriteNumbers("prompt_ids", ids.Select(i => (long)i));
                    w.WriteString("text", text.ToString());
                    w.WriteNumbers("ids", produced.Select(i => (long)i));
                    w.WriteSeconds(elapsed);
                    w.WriteNumber("tokens_per_s", Math.Round(rate, 2));
                    w.WriteNumber("threads", exec.Threads(parse));
                    w.WriteString("quant_path", exec.Path(parse).ToString().ToLowerInvariant());
                });
                return CliApp.ExitOk;
            }
            ctx.Out.WriteLine(tail);
            ctx.Err.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"generate: {ids.Count} prompt tokens, {produced.Count} generated in {Format.Seconds(elapsed)} ({rate:0.0} tokens/s, {exec.Threads(parse)} threads{(runtime == Runtimes.Name(RuntimeKind.Ours) ? "" : ", runtime " + runtime)})"));
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
