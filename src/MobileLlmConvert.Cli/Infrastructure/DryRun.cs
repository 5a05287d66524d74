using System.CommandLine;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// `--dry-run` on the writing verbs (convert, hf2mobile): the plan the library computed
/// (<see cref="Pipeline.Plan"/>: passes and what they merge, type and bytes of every stored tensor,
/// the total, the output path), printed instead of written. Nothing is created or replaced.
/// </summary>
internal static class DryRun
{
    public static Option<bool> Option() => new("--dry-run") { Description = "print the plan (passes, type and bytes per tensor, output) and write nothing" };

    public static void Print(CliContext ctx, bool json, string verb, string input, string inputFormat, string output, string outputFormat, ConversionPlan plan)
    {
        var conversion = ConversionReport.From(plan.Conversion);
        if (json)
        {
            JsonContract.Write(ctx.Out, verb, w =>
            {
                w.WriteBoolean("dry_run", true);
                w.WriteString("input", input);
                w.WriteString("output", output);
                w.WriteFormat(inputFormat, outputFormat);
                // bytes.stored is the input's tensor bytes, as in convert's document; nothing is written,
                // so the output's tensor bytes are the plan's own field.
                w.WriteBytes(conversion.Source.StoredBytes, null);
                w.WriteNumber("planned_bytes", plan.StoredBytes);
                w.WriteStartObject("parameters");
                w.WriteNumber("stored", conversion.Result.StoredParameters);
                w.WriteNumber("executed", conversion.Result.ExecutedParameters);
                w.WriteEndObject();
                w.WritePropertyName("passes");
                PassJson.Write(w, conversion.Sharing, conversion.Quantization is null ? null : [conversion.Quantization]);
                w.WriteStartArray("tensors");
                foreach (var t in plan.Tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Key);
                    w.WriteString("type", t.Type);
                    w.WriteNumbers("shape", t.Shape);
                    w.WriteNumber("bytes", t.Bytes);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
            return;
        }
        var o = ctx.Out;
        o.WriteLine(CliApp.Line($"{verb} --dry-run: {input} ({inputFormat}) -> {output} ({outputFormat}); nothing written"));
        conversion.PrintNotes(o);
        int keyWidth = Math.Min(64, plan.Tensors.Count == 0 ? 0 : plan.Tensors.Max(t => t.Key.Length));
        foreach (var t in plan.Tensors)
            o.WriteLine(CliApp.Line($"  {t.Key.PadRight(keyWidth)}  {t.Type,-10} {Shapes.Format(t.Shape),-16} {Format.Bytes(t.Bytes)}"));
        o.WriteLine(CliApp.Line(
            $"  total: {plan.Tensors.Count} stored tensors, {Format.Count(conversion.Result.StoredParameters)} parameters, {Format.Bytes(plan.StoredBytes)} " +
            $"(was {Format.Bytes(conversion.Source.StoredBytes)}), {conversion.Sharing.Totals.TensorsMerged} tensors merged"));
    }
}
