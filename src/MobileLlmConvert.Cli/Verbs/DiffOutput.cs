using System.Globalization;
using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>How `diff` (and `verify`, its one-candidate shortcut) print a <see cref="DiffResult"/>: a block per candidate on a terminal, the docs/diff.md schema with --json.</summary>
internal static class DiffOutput
{
    public const string Schema = "mlconvert/1";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Print(TextWriter o, DiffOutcome outcome, DiffOptions options)
    {
        var r = outcome.Result;
        o.WriteLine(CliApp.Line($"diff: reference {r.Reference}; {Format.Count(r.TokensScored)} tokens of {r.TextSource} in windows of {r.Context}"));
        foreach (var c in r.Candidates)
        {
            o.WriteLine();
            o.WriteLine(CliApp.Line(c.Model));
            PrintCandidate(o, c, options);
        }
        if (r.Candidates.Count > 1)
        {
            o.WriteLine();
            o.WriteLine(string.Create(Inv, $"{"candidate",-40} {"mean KL",10} {"p99 KL",10} {"max KL",10} {"top-1",7} {"ln PPL",9}"));
            foreach (var c in r.Candidates)
                o.WriteLine(CliApp.Line(string.Create(Inv, $"{Short(c.Model),-40} {c.Kl.Mean,10:G4} {c.Kl.P99,10:G4} {c.Kl.Max,10:G4} {c.Top1Agreement,7:P1} {Signed(c.Ppl.LogRatio),9}")));
        }
        o.WriteLine(string.Create(Inv, $"{outcome.Seconds:F1} s"));
        if (r.Candidates.All(c => c.Passed is null)) return;
        var failed = r.Candidates.Where(c => c.Passed == false).ToArray();
        o.WriteLine(failed.Length == 0 ? "PASS" : CliApp.Line("FAIL: " + string.Join(", ", failed.Select(c => $"{c.Model} ({Why(c, options)})"))));
    }

    private static void PrintCandidate(TextWriter o, CandidateDiff c, DiffOptions options)
    {
        var k = c.Kl;
        o.WriteLine(string.Create(Inv, $"  KL (nats)     mean {k.Mean:G4} (95% CI {c.MeanKlCi95Low:G4} .. {c.MeanKlCi95High:G4}), p50 {k.P50:G4}, p90 {k.P90:G4}, p99 {k.P99:G4}, p99.9 {k.P999:G4}, max {k.Max:G4}"));
        o.WriteLine(string.Create(Inv, $"  top-1         {c.Top1Agreement:P2} agreement"));
        o.WriteLine(string.Create(Inv, $"  delta-p       mean {Signed(c.DeltaP.Mean)}, rms {c.DeltaP.Rms:G4} (p_cand - p_ref of the true next token)"));
        o.WriteLine(string.Create(Inv, $"  perplexity    reference {c.Ppl.Reference:G6}, candidate {c.Ppl.Candidate:G6}, ln ratio {Signed(c.Ppl.LogRatio)}"));
        if (options.Generate > 0)
            o.WriteLine(c.FirstGreedyDivergence is { } d ? $"  greedy        first differs at generated token {d} (of {options.Generate})" : $"  greedy        all {options.Generate} generated tokens agree");
        if (c.Worst.Count > 0)
        {
            o.WriteLine("  worst positions (KL, text before, reference's / candidate's top token):");
            foreach (var w in c.Worst)
                o.WriteLine(CliApp.Line(string.Create(Inv, $"    {w.Position,7} {w.Kl,10:G4}  \"{Clip(w.Context)}\" -> {Quote(w.RefToken)} / {Quote(w.CandToken)}")));
        }
        if (c.Layers is { } layers)
        {
            o.WriteLine("  per layer (residual stream after each step):");
            o.WriteLine($"    {"step",5} {"block",6} {"rel error",11} {"cosine",12}");
            foreach (var l in layers) o.WriteLine(string.Create(Inv, $"    {l.Step,5} {l.StoredBlock,6} {l.RelError,11:G4} {l.Cosine,12:F8}"));
        }
        if (c.Tensors is { } tensors)
        {
            o.WriteLine(tensors.Count == 0 ? "  per tensor: no tensor differs from the reference's" : "  per tensor (mean KL added when only this tensor is the candidate's):");
            foreach (var t in tensors)
            {
                string steps = t.Steps.Count == 0 ? "" : " steps " + string.Join(',', t.Steps);
                o.WriteLine(CliApp.Line(string.Create(Inv, $"    {t.DeltaKl,10:G4}  {t.Name} {t.TypeRef}->{t.TypeCand}{steps}")));
            }
        }
        if (c.Passed is { } passed) o.WriteLine(passed ? "  gate: pass" : $"  gate: FAIL ({Why(c, options)})");
    }

    private static string Why(CandidateDiff c, DiffOptions options)
    {
        var reasons = new List<string>();
        if (options.MaxMeanKl is { } maxKl && !(c.Kl.Mean <= maxKl)) reasons.Add(string.Create(Inv, $"mean KL {c.Kl.Mean:G4} > --max-kl {maxKl:G4}"));
        if (options.MinTop1 is { } minTop1 && !(c.Top1Agreement >= minTop1)) reasons.Add(string.Create(Inv, $"top-1 {c.Top1Agreement:G4} < --min-top1 {minTop1:G4}"));
        return string.Join("; ", reasons);
    }

    /// <summary>Four significant digits with an explicit sign (a custom format would print "-+0" for a tiny negative value).</summary>
    private static string Signed(double x) => (x >= 0 ? "+" : "") + x.ToString("G4", Inv);

    private static string Short(string path) => path.Length > 40 ? "…" + path[^39..] : path;
    private static string Clip(string text) => (text.Length > 60 ? "…" + text[^59..] : text).Replace("\n", "\\n", StringComparison.Ordinal);
    private static string Quote(string token) => "'" + token.Replace("\n", "\\n", StringComparison.Ordinal) + "'";

    public static void WriteJson(TextWriter stdout, DiffOutcome outcome, DiffOptions options) => JsonContract.Write(stdout, "diff", w =>
    {
        var r = outcome.Result;
        w.WriteString("reference", r.Reference);
        w.WriteString("text", r.TextSource);
        w.WriteNumber("tokens_scored", r.TokensScored);
        w.WriteNumber("context", r.Context);
        w.WriteStartArray("candidates");
        foreach (var c in r.Candidates)
        {
            w.WriteStartObject();
            WriteCandidate(w, c);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (options.MaxMeanKl is not null || options.MinTop1 is not null)
        {
            w.WriteStartObject("gates");
            if (options.MaxMeanKl is { } k) w.WriteNumber("max_kl", k);
            if (options.MinTop1 is { } t) w.WriteNumber("min_top1", t);
            w.WriteEndObject();
            w.WriteBoolean("pass", r.Candidates.All(c => c.Passed != false));
            w.WriteStrings("failed", r.Candidates.Where(c => c.Passed == false).Select(c => c.Model));
        }
        w.WriteNumber("seconds", Math.Round(outcome.Seconds, 3));
    });

    /// <summary>The per-candidate fields (docs/diff.md), shared with `verify`'s document.</summary>
    public static void WriteCandidate(Utf8JsonWriter w, CandidateDiff c)
    {
        w.WriteString("model", c.Model);
        w.WriteStartObject("kl");
        Number(w, "mean", c.Kl.Mean);
        Number(w, "p50", c.Kl.P50);
        Number(w, "p90", c.Kl.P90);
        Number(w, "p99", c.Kl.P99);
        Number(w, "p999", c.Kl.P999);
        Number(w, "max", c.Kl.Max);
        w.WriteStartArray("mean_ci95");
        Value(w, c.MeanKlCi95Low);
        Value(w, c.MeanKlCi95High);
        w.WriteEndArray();
        w.WriteEndObject();
        Number(w, "top1_agreement", c.Top1Agreement);
        w.WriteStartObject("delta_p");
        Number(w, "mean", c.DeltaP.Mean);
        Number(w, "rms", c.DeltaP.Rms);
        w.WriteEndObject();
        w.WriteStartObject("ppl");
        Number(w, "reference", c.Ppl.Reference);
        Number(w, "candidate", c.Ppl.Candidate);
        Number(w, "log_ratio", c.Ppl.LogRatio);
        w.WriteEndObject();
        w.WriteStartArray("worst");
        foreach (var p in c.Worst)
        {
            w.WriteStartObject();
            w.WriteNumber("position", p.Position);
            Number(w, "kl", p.Kl);
            w.WriteString("context", p.Context);
            w.WriteString("ref_token", p.RefToken);
            w.WriteString("cand_token", p.CandToken);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        // null when --generate was not asked or every generated token agreed.
        if (c.FirstGreedyDivergence is { } d) w.WriteNumber("first_greedy_divergence", d);
        else w.WriteNull("first_greedy_divergence");
        if (c.Layers is { } layers)
        {
            w.WriteStartArray("layers");
            foreach (var l in layers)
            {
                w.WriteStartObject();
                w.WriteNumber("step", l.Step);
                w.WriteNumber("stored_block", l.StoredBlock);
                Number(w, "rel_error", l.RelError);
                Number(w, "cosine", l.Cosine);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (c.Tensors is { } tensors)
        {
            w.WriteStartArray("tensors");
            foreach (var t in tensors)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("type_ref", t.TypeRef);
                w.WriteString("type_cand", t.TypeCand);
                w.WriteNumbers("steps", t.Steps.Select(s => (long)s));
                Number(w, "delta_kl", t.DeltaKl);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (c.Passed is { } passed) w.WriteBoolean("pass", passed);
    }

    /// <summary>
    /// JSON has no NaN or infinity: a figure that is not finite (no next token to score, or a broken
    /// candidate whose logits overflow) is null.
    /// </summary>
    internal static void Number(Utf8JsonWriter w, string name, double value)
    {
        w.WritePropertyName(name);
        Value(w, value);
    }

    private static void Value(Utf8JsonWriter w, double value)
    {
        if (double.IsFinite(value)) w.WriteNumberValue(value);
        else w.WriteNullValue();
    }
}
