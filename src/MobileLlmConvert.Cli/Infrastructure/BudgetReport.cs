using System.Globalization;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>An accuracy budget's result as convert and hf2mobile print it: text lines, and the `budget` object of the JSON contract (docs/json.md).</summary>
internal static class BudgetReport
{
    public static void Print(TextWriter o, Budget b)
    {
        var r = b.Result;
        var q = b.Quality;
        o.WriteLine(CliApp.Line(string.Create(CultureInfo.InvariantCulture,
            $"  budget: {b.Name} {q.Value:R}: measured mean KL {r.MeasuredKl:G4} on {q.Tokens} tokens of {q.EvalText} (windows of {q.Context}), {r.TensorBytes} tensor bytes, {r.Trials.Count} end-to-end checks, {r.Seconds:0.0} s")));
        foreach (var (i, t) in r.Trials.Index())
            o.WriteLine(CliApp.Line(string.Create(CultureInfo.InvariantCulture,
                $"  budget: check {i + 1}: {t.Bytes} bytes, estimated {t.EstimatedKl:G4}, measured {t.MeasuredKl:G4}{(t.Passed ? "" : " (over)")}")));
        foreach (var g in r.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key))
            o.WriteLine(CliApp.Line($"  budget: {g.Key.Info().Name} x{g.Count()}: {string.Join(", ", g.Select(t => t.Name))}"));
    }

    public static void WriteJson(Utf8JsonWriter w, Budget b)
    {
        var r = b.Result;
        var q = b.Quality;
        w.WriteStartObject("budget");
        w.WriteString("kind", b.Name);
        w.WriteNumber("value", q.Value);
        if (r.TargetBytes is { } target) w.WriteNumber("target_bytes", target);
        else w.WriteNull("target_bytes");
        w.WriteNumber("measured_mean_kl", r.MeasuredKl);
        w.WriteNumber("tensor_bytes", r.TensorBytes);
        w.WriteString("eval_text", q.EvalText);
        w.WriteString("eval_text_sha256", q.EvalTextSha256);
        w.WriteNumber("tokens", q.Tokens);
        w.WriteNumber("context", q.Context);
        w.WriteNumber("seconds", Math.Round(r.Seconds, 3));
        w.WriteStartArray("checks");
        foreach (var t in r.Trials)
        {
            w.WriteStartObject();
            w.WriteNumber("bytes", t.Bytes);
            w.WriteNumber("estimated_kl", t.EstimatedKl);
            w.WriteNumber("measured_kl", t.MeasuredKl);
            w.WriteBoolean("pass", t.Passed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("tensors");
        foreach (var t in r.Tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("type", t.Type.Info().Name);
            w.WriteNumber("bytes", t.Bytes);
            w.WriteNumber("estimated_delta_kl", t.EstimatedDeltaKl);
            w.WriteNumber("candidates", t.Candidates);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
