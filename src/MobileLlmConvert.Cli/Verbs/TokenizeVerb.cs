using System.CommandLine;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert tokenize MODEL --text T [--json] [--no-bos]`: the ids and pieces the model's tokenizer
/// gives a text, one `ID -> 'PIECE'` per line like llama.cpp's llama-tokenize, or one JSON document.
/// Goes through <see cref="TextTokenizer"/> only, so it shows exactly what generate and verify feed the model.
/// </summary>
public sealed class TokenizeVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "Hugging Face directory, .gguf file, mobile bundle or model file" };
        var text = new Option<string>("--text", "-t") { Description = "text to tokenize", Required = true };
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout" };
        var noBos = new Option<bool>("--no-bos") { Description = "do not add BOS even where the tokenizer config asks for it" };
        var cmd = new Command("tokenize", "Show the token ids and pieces of a text.") { model, text, json, noBos };
        cmd.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            string input = parse.GetValue(text)!;
            var kind = ModelOpener.Detect(path);
            using var ir = ModelOpener.Open(path);
            if (ir.Tokenizer is null) throw new UsageException($"{path}: the model has no tokenizer");
            var tokenizer = new TextTokenizer(ir.Tokenizer);
            var ids = tokenizer.Encode(input, addBos: ir.Tokenizer.AddBos && !parse.GetValue(noBos), addEos: ir.Tokenizer.AddEos);
            var pieces = ir.Tokenizer.Pieces;
            if (parse.GetValue(json))
            {
                JsonContract.Write(ctx.Out, "tokenize", w =>
                {
                    w.WriteString("input", path);
                    w.WriteFormat(kind.Name, null);
                    w.WriteString("text", input);
                    w.WriteStartArray("tokens");
                    foreach (int id in ids)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("id", id);
                        w.WriteString("piece", pieces[id]);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteNumber("count", ids.Count);
                });
            }
            else
            {
                foreach (int id in ids) ctx.Out.WriteLine($"{id,6} -> '{pieces[id]}'");
            }
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
