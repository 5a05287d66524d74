// Converts a testdata checkpoint with the packed MobileLlmConvert package, as docs/library.md shows,
// then checks what a user would notice: a GGUF file of the reported size that reads back, the prompt
// tokenized, and the same next token from the converted model and from the file it was written to.
// Usage: PackageConsumer CHECKPOINT_DIR OUTPUT_DIR. Exit 0 on success, 1 when a check fails.
using MobileLlmConvert;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;

string output = Path.Combine(args[1], "model.gguf");

using ModelIr ir = Models.Open(args[0], new OpenOptions());
using var conv = Pipeline.Run(ir, new ConvertOptions { Quant = "q4" });
WriteResult w = Models.Write(conv.Result, output, new WriteOptions { Format = "gguf" });
var tok = Tokenizers.For(ir);
int[] ids = [.. tok.Encode("And God said")];
using var exec = new MobileLlmConvert.Runtime.Transformer(conv.Result);
float[] logits = exec.Forward(ids);

using ModelIr back = Models.Open(output, new OpenOptions());
using var execBack = new MobileLlmConvert.Runtime.Transformer(back);
float[] logitsBack = execBack.Forward(ids);

int vocab = conv.Result.Config.VocabSize;
int next = ArgMax(logits.AsSpan(logits.Length - vocab));
int nextBack = ArgMax(logitsBack.AsSpan(logitsBack.Length - vocab));
var failures = new List<string>();
byte[] head = new byte[4];
using (var f = File.OpenRead(output)) f.ReadExactly(head);
if (System.Text.Encoding.ASCII.GetString(head) != "GGUF") failures.Add($"{output} does not start with GGUF");
if (new FileInfo(output).Length != w.Bytes) failures.Add($"written {new FileInfo(output).Length} bytes, WriteResult says {w.Bytes}");
if (ids.Length < 2) failures.Add($"prompt encoded to {ids.Length} ids");
if (logits.Length != ids.Length * vocab) failures.Add($"{logits.Length} logits for {ids.Length} ids x {vocab}");
if (logits.Any(x => !float.IsFinite(x))) failures.Add("non-finite logits");
if (next != nextBack) failures.Add($"next token {next} from the converted IR, {nextBack} from the GGUF read back");

Console.WriteLine($"package consumer: {w.Format} {w.Bytes} bytes, ids [{string.Join(",", ids)}], next token {next}");
foreach (string failure in failures) Console.Error.WriteLine($"package consumer: FAILED: {failure}");
return failures.Count == 0 ? 0 : 1;

static int ArgMax(ReadOnlySpan<float> row)
{
    int best = 0;
    for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
    return best;
}
