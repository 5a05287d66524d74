using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert logits MODEL --tokens 1,17,40`: one JSON object on stdout,
/// {"tokens": [...], "logits": [[vocab floats] per input position]}. No BOS is added: the ids are
/// fed exactly as given, so outside runtimes can be compared position by position.
/// </summary>
public sealed class LogitsVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "Hugging Face directory, .gguf file, mobile bundle or model file" };
        var tokens = new Option<string>("--tokens") { Description = "comma-separated token ids, e.g. 1,17,40", Required = true };
        var exec = new ExecutorFlags(ExecutorOptions.DefaultQuantPath);
        var cmd = new Command("logits", "Print the executor's logits for every position of a token list, as JSON.") { model, tokens };
        exec.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            using var ir = ModelOpener.Open(parse.GetValue(model)!, family.Options(parse));
            var ids = TokenList.Parse(parse.GetValue(tokens)!, ir.Config.VocabSize, ir.Config.ContextLength);
            using var t = new Transformer(ir, exec.Options(parse, maxContext: ids.Length));
            var logits = t.Forward(ids);
            int v = ir.Config.VocabSize;
            JsonOut.Write(ctx.Out, w =>
            {
                w.WriteStartObject();
                w.WriteNumbers("tokens", ids.Select(id => (long)id));
                w.WriteStartArray("logits");
                for (int p = 0; p < ids.Length; p++)
                {
                    w.WriteStartArray();
                    foreach (var x in logits.AsSpan(p * v, v)) w.WriteNumberValue(x);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }, indented: false);
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
