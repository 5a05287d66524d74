using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert logits MODEL --tokens 1,17,40 [--json] [--runtime ours|ort]`: the logits of every
/// position, from our executor or ONNX Runtime.
/// Text: one line per position with its top ids. JSON: {"tokens": [...], "logits": [[vocab floats]
/// per input position]}. No BOS is added: the ids are fed exactly as given, so outside runtimes can
/// be compared position by position.
/// </summary>
public sealed class LogitsVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "Hugging Face directory, .gguf file, mobile bundle or model file, ONNX folder" };
        var tokens = new Option<string>("--tokens") { Description = "comma-separated token ids, e.g. 1,17,40", Required = true };
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout with every logit" };
        var top = new Option<int>("--top") { Description = "text output: ids shown per position", DefaultValueFactory = _ => 5 };
        var exec = new ExecutorFlags(ExecutorOptions.DefaultQuantPath);
        var cmd = new Command("logits", "Print the executor's logits for every position of a token list.") { model, tokens, json, top };
        exec.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            int k = parse.GetValue(top);
            if (k < 1) throw new UsageException($"--top: {k} must be at least 1");
            string runtime = exec.RuntimeName(parse, path);
            var kind = ModelOpener.Detect(path);
            using var ir = ModelOpener.Open(path, family.Options(parse));
            var ids = TokenList.Parse(parse.GetValue(tokens)!, ir.Config.VocabSize, ir.Config.ContextLength);
            using var t = exec.Open(parse, path, ir, maxContext: ids.Length);
            int v = ir.Config.VocabSize;
            var logits = new float[checked(ids.Length * v)];
            t.Forward(ids, logits);
            if (!parse.GetValue(json))
            {
                for (int p = 0; p < ids.Length; p++) ctx.Out.WriteLine(TopLine(p, ids[p], logits.AsSpan(p * v, v), k));
                return CliApp.ExitOk;
            }
            JsonContract.Write(ctx.Out, "logits", w =>
            {
                w.WriteString("input", path);
                w.WriteFormat(kind.Name, null);
                w.WriteString("runtime", runtime);
                w.WriteNumbers("tokens", ids.Select(id => (long)id));
                w.WriteStartArray("logits");
                for (int p = 0; p < ids.Length; p++)
                {
                    w.WriteStartArray();
                    foreach (var x in logits.AsSpan(p * v, v)) w.WriteNumberValue(x);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }, indented: false);
            return CliApp.ExitOk;
        });
        return cmd;
    }

    /// <summary>"POS ID: id (logit) ..." for the <paramref name="k"/> largest logits, ties by lower id.</summary>
    private static string TopLine(int position, int id, ReadOnlySpan<float> row, int k)
    {
        float[] r = row.ToArray();
        var best = Enumerable.Range(0, r.Length).Select(i => (Id: i, Logit: r[i]))
            .OrderByDescending(x => x.Logit).ThenBy(x => x.Id).Take(k);
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{position,4} {id,6}: ") + string.Join("  ", best.Select(x => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{x.Id} ({x.Logit:0.0000})")));
    }
}
