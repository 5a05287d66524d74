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

    public static ConversionReport From(Conversion c) => new()
    {
        Source = c.Source,
        Result = c.Result,
        Sharing = c.Sharing,
        Quantization = c.Quantization,
        Policy = c.Policy,
        Clock = c.Clock,
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
        foreach (var n in Source.ImportNotes) o.WriteLine($"  import: {n}");
        foreach (var r in Reports)
        {
            foreach (var n in r.Notes) o.WriteLine(CliApp.Line($"  {r.Pass}: {n}"));
        }
    }

    /// <summary>The one-line summary a conversion ends with (paths escaped like every message).</summary>
    public string Summary(string verb, string source, string output, long outputBytes) => CliApp.Line(
        $"{verb}: {source} -> {output}: {Format.Count(Source.StoredParameters)} -> {Format.Count(Result.StoredParameters)} stored parameters, " +
        $"{Format.Bytes(Source.StoredBytes)} stored -> {Format.Bytes(outputBytes)} written, " +
        $"{Sharing.Totals.TensorsMerged} tensors merged, {Format.Seconds(Clock.Elapsed)}");

    public void WriteJson(Utf8JsonWriter w, string source, string output, string format, long outputBytes)
    {
        w.WriteString("source", source);
        w.WriteString("output", output);
        w.WriteString("format", format);
        w.WriteNumber("output_bytes", outputBytes);
        w.WriteNumber("seconds", Math.Round(Clock.Elapsed.TotalSeconds, 3));
        w.WriteStrings("import_notes", Source.ImportNotes);
        w.WriteStartObject("parameters");
        w.WriteNumber("stored_before", Source.StoredParameters);
        w.WriteNumber("stored", Result.StoredParameters);
        w.WriteNumber("executed", Result.ExecutedParameters);
        w.WriteEndObject();
        w.WriteStartObject("stored_bytes");
        w.WriteNumber("before", Source.StoredBytes);
        w.WriteNumber("after", Result.StoredBytes);
        w.WriteEndObject();
        w.WritePropertyName("passes");
        PassJson.Write(w, Sharing, Quantization is null ? null : [Quantization]);
    }
}
