using System.Diagnostics;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// A conversion as the CLI reports it: the library's <see cref="Pipeline"/> does the work (sharing
/// passes, then Quantize); this class prints its notes, summary line and JSON.
/// </summary>
internal sealed class ConversionReport
{
    public required ModelIr Source { get; init; }
    public required ModelIr Result { get; init; }
    public required SharingResult Sharing { get; init; }
    public PassReport? Quantization { get; init; }
    /// <summary>The policy the Quantize pass ran with (null: no quantization), as recorded in a bundle manifest.</summary>
    public QuantPolicy? Policy { get; init; }
    /// <summary>Started before the passes, so the summary's time covers passes and writing.</summary>
    public required Stopwatch Clock { get; init; }
    /// <summary>The accuracy budget's search, or null when none was asked for.</summary>
    public Budget? Budget { get; init; }

    public static ConversionReport From(Conversion c) => new()
    {
        Source = c.Source,
        Result = c.Result,
        Sharing = c.Sharing,
        Quantization = c.Quantization,
        Policy = c.Policy,
        Clock = c.Clock,
        Budget = c.Budget,
    };

    public IEnumerable<PassReport> Reports => Quantization is null ? Sharing.Reports : Sharing.Reports.Append(Quantization);

    /// <summary>Pass warnings go to stderr whatever the output mode: they are things to act on.</summary>
    public void PrintWarnings(CliContext ctx)
    {
        foreach (var r in Reports)
        {
            foreach (var w in r.Warnings) ctx.Warn($"{r.Pass}: {w}");
        }
    }

    public void PrintNotes(TextWriter o)
    {
        foreach (var n in Source.ImportNotes) o.WriteLine(CliApp.Line($"  import: {n}"));
        foreach (var r in Reports)
        {
            foreach (var n in r.Notes) o.WriteLine(CliApp.Line($"  {r.Pass}: {n}"));
        }
        if (Budget is not null) BudgetReport.Print(o, Budget);
    }

    /// <summary>The one-line summary a conversion ends with (paths escaped like every message).</summary>
    public string Summary(string verb, string source, string output, long outputBytes) => CliApp.Line(
        $"{verb}: {source} -> {output}: {Format.Count(Source.StoredParameters)} -> {Format.Count(Result.StoredParameters)} stored parameters, " +
        $"{Format.Bytes(Source.StoredBytes)} stored -> {Format.Bytes(outputBytes)} written, " +
        $"{Sharing.Totals.TensorsMerged} tensors merged, {Format.Seconds(Clock.Elapsed)}");

    /// <summary>
    /// The conversion report of the JSON contract (docs/json.md): <c>bytes.stored</c> is the tensor
    /// bytes of the model read, <c>bytes.written</c> the output's size, <c>parameters</c> the model
    /// written; the "before" figures are in <c>passes.totals</c>.
    /// </summary>
    public void WriteJson(Utf8JsonWriter w, string input, string output, string inputFormat, string outputFormat, long written)
    {
        w.WriteString("input", input);
        w.WriteString("output", output);
        w.WriteFormat(inputFormat, outputFormat);
        w.WriteBytes(Source.StoredBytes, written);
        w.WriteParameters(Result.StoredParameters, Result.ExecutedParameters);
        w.WriteSeconds(Clock.Elapsed);
        w.WriteNotes(Source.ImportNotes);
        w.WriteWarnings(Reports.SelectMany(r => r.Warnings.Select(x => $"{r.Pass}: {x}")));
        w.WritePropertyName("passes");
        PassJson.Write(w, Sharing, Quantization is null ? null : [Quantization]);
        if (Budget is not null) BudgetReport.WriteJson(w, Budget);
    }
}
