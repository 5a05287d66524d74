using System.Text;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Runtime.Evaluation;
using static MobileLlmConvert.Reports.HtmlText;

namespace MobileLlmConvert.Reports;

/// <summary>
/// The HTML report of one <c>mlconvert diff</c> run: a single self-contained page (inline CSS, PNG
/// figures embedded as <c>data:</c> URIs, no script, and a Content-Security-Policy that forbids any
/// fetch) with the summary table, a KL histogram per candidate, the per-layer error curves, the
/// per-tensor attribution chart and the worst positions. The same <see cref="DiffResult"/> always
/// gives the same bytes. docs/diff.md ("Report") describes the page.
/// </summary>
public static class DiffReport
{
    /// <summary>Worst positions listed per candidate (the result may hold more).</summary>
    public const int MaxWorstShown = 20;

    /// <summary>Rows of the per-tensor table per candidate; the chart shows <see cref="DiffPlots.MaxTensorBars"/>.</summary>
    public const int MaxTensorRows = 200;

    /// <summary>
    /// Nothing may be loaded from anywhere (the page is opened from disk, mailed, attached to CI runs):
    /// images only from data: URIs, styles only inline, no script at all. Per the CSP Level 3 spec,
    /// <c>default-src 'none'</c> blocks every other kind of fetch.
    /// </summary>
    internal const string ContentSecurityPolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

    /// <summary>Writes <see cref="Html"/> as UTF-8 through a temporary file renamed into place.</summary>
    public static void WriteHtml(DiffResult result, string path)
    {
        byte[] bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(Html(result));
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    // The first bytes of every report: how a later run recognises a file it may replace (IsOwnReport).
    private const string Preamble = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"generator\" content=\"mlconvert diff\">\n";

    /// <summary>True when <paramref name="path"/> is a regular file that starts like a report of ours (so `--report` may replace it); never throws.</summary>
    public static bool IsOwnReport(string path)
    {
        try
        {
            byte[] expected = Encoding.UTF8.GetBytes(Preamble);
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var head = new byte[expected.Length];
            return f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) == head.Length && head.AsSpan().SequenceEqual(expected);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The self-contained HTML page (inline CSS, PNG plots as data: URIs, no script) for <paramref name="result"/>; the same result gives the same text.</summary>
    public static string Html(DiffResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var page = new StringBuilder(1 << 16);
        string title = "mlconvert diff: " + ShortName(result.Reference);
        page.Append(Preamble)
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"").Append(ContentSecurityPolicy).Append("\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(Escape(title)).Append("</title>\n<style>").Append(Css).Append("</style>\n</head>\n<body>\n");
        page.Append("<h1>").Append(Escape(title)).Append("</h1>\n");
        Header(page, result);
        Summary(page, result);
        Histograms(page, result);
        Layers(page, result);
        Tensors(page, result);
        Worst(page, result);
        page.Append("<footer>Written by mlconvert diff. KL is KL(reference ‖ candidate) in nats over the next-token distribution, teacher-forced on the same tokens.</footer>\n</body>\n</html>\n");
        return page.ToString();
    }

    private static string Legend(int i, CandidateDiff c) => $"C{i + 1} {ShortName(c.Model)}";

    private static void Header(StringBuilder page, DiffResult r)
    {
        page.Append("<dl class=\"meta\">\n");
        Item("reference", "<code>" + Escape(r.Reference) + "</code>");
        Item("text", "<code>" + Escape(r.TextSource) + "</code>");
        Item("tokens scored", Int(r.TokensScored));
        Item("context", Int(r.Context) + " tokens per window");
        for (int i = 0; i < r.Candidates.Count; i++) Item("C" + Int(i + 1), "<code>" + Escape(r.Candidates[i].Model) + "</code>");
        page.Append("</dl>\n");

        void Item(string term, string html) => page.Append("<dt>").Append(term).Append("</dt><dd>").Append(html).Append("</dd>\n");
    }

    private static void Summary(StringBuilder page, DiffResult r)
    {
        page.Append("<h2 id=\"summary\">Summary</h2>\n<table class=\"num\">\n<thead><tr><th>candidate</th>")
            .Append("<th>mean KL</th><th>95% CI</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th>")
            .Append("<th>top-1</th><th>Δp mean</th><th>Δp RMS</th><th>PPL ref</th><th>PPL cand</th><th>ln(PPL c/r)</th>")
            .Append("<th>greedy diverges</th><th>gate</th></tr></thead>\n<tbody>\n");
        for (int i = 0; i < r.Candidates.Count; i++)
        {
            var c = r.Candidates[i];
            page.Append("<tr><th title=\"").Append(Escape(c.Model)).Append("\">").Append(Escape(Legend(i, c))).Append("</th><td>")
                .Append(Small(c.Kl.Mean)).Append("</td><td class=\"ci\">[").Append(Small(c.MeanKlCi95Low)).Append(", ").Append(Small(c.MeanKlCi95High)).Append("]</td>");
            foreach (string cell in new[]
            {
                Small(c.Kl.P50), Small(c.Kl.P90),
                Small(c.Kl.P99), Small(c.Kl.P999), Small(c.Kl.Max), Percent(c.Top1Agreement), Signed(c.DeltaP.Mean), Small(c.DeltaP.Rms),
                Fixed(c.Ppl.Reference, 3), Fixed(c.Ppl.Candidate, 3), Signed(c.Ppl.LogRatio),
                c.FirstGreedyDivergence is { } step ? "step " + Int(step) : "—",
            })
            {
                page.Append("<td>").Append(Escape(cell)).Append("</td>");
            }
            page.Append(c.Passed switch
            {
                true => "<td class=\"pass\">pass</td>",
                false => "<td class=\"fail\">FAIL</td>",
                null => "<td class=\"none\">no gate</td>",
            }).Append("</tr>\n");
        }
        page.Append("</tbody>\n</table>\n<p class=\"note\">Δp: p<sub>cand</sub>(true next token) − p<sub>ref</sub>(true next token). ")
            .Append("The confidence interval is for the mean KL. “greedy diverges”: the first generated step where greedy decoding differs from the reference (— when it never did or was not asked).</p>\n");
    }

    private static void Histograms(StringBuilder page, DiffResult r)
    {
        page.Append("<h2 id=\"kl\">KL per position</h2>\n<div class=\"grid\">\n");
        for (int i = 0; i < r.Candidates.Count; i++)
        {
            var c = r.Candidates[i];
            var h = LogHistogram.Of(c.KlPerPosition);
            page.Append("<figure>");
            if (h.Placed > 0)
                Image(page, DiffPlots.KlHistogram(c, h, Legend(i, c)), DiffPlots.HistogramWidth, DiffPlots.HistogramHeight, "KL histogram of " + Legend(i, c));
            else
                page.Append("<div class=\"empty\">").Append(Escape(Legend(i, c))).Append(": no position with a positive KL</div>");
            page.Append("<figcaption>").Append(Int(c.KlPerPosition.Length)).Append(" positions");
            if (h.NonPositive > 0) page.Append("; ").Append(Int(h.NonPositive)).Append(" with KL = 0 (identical distributions, not drawn)");
            if (h.NonFinite > 0) page.Append("; ").Append(Int(h.NonFinite)).Append(" not finite (not drawn)");
            page.Append(". Bins are 1/").Append(Int(LogHistogram.BinsPerDecade)).Append(" decade wide.</figcaption></figure>\n");
        }
        page.Append("</div>\n");
    }

    private static void Layers(StringBuilder page, DiffResult r)
    {
        var series = r.Candidates.Select((c, i) => (Legend: Legend(i, c), Layers: c.Layers))
            .Where(s => s.Layers is { Count: > 0 }).Select(s => (s.Legend, Layers: (IReadOnlyList<LayerError>)s.Layers!)).ToList();
        if (series.Count == 0) return;
        page.Append("<h2 id=\"layers\">Error per layer step</h2>\n<p class=\"note\">Hidden state (residual stream) after each executed step, candidate against reference on the same inputs. ")
            .Append("A step whose weights are a shared stored block shows that block in brackets.</p>\n<figure>");
        Image(page, DiffPlots.LayerCurve(series, l => l.RelError, "relative RMS error", logWhenPositive: true), DiffPlots.CurveWidth, DiffPlots.CurveHeight, "relative error per step");
        page.Append("</figure>\n<figure>");
        Image(page, DiffPlots.LayerCurve(series, l => l.Cosine, "cosine similarity", logWhenPositive: false), DiffPlots.CurveWidth, DiffPlots.CurveHeight, "cosine similarity per step");
        page.Append("</figure>\n<details><summary>Per-step values</summary>\n<table class=\"num\"><thead><tr><th>step</th><th>stored block</th>");
        foreach (var s in series) page.Append("<th>").Append(Escape(s.Legend)).Append(" rel. error</th><th>cosine</th>");
        page.Append("</tr></thead>\n<tbody>\n");
        var steps = series.SelectMany(s => s.Layers).GroupBy(l => l.Step).Select(g => g.First()).OrderBy(l => l.Step);
        foreach (var step in steps)
        {
            page.Append("<tr><td>").Append(Int(step.Step)).Append("</td><td>").Append(Int(step.StoredBlock)).Append("</td>");
            foreach (var s in series)
            {
                var l = s.Layers.FirstOrDefault(x => x.Step == step.Step);
                page.Append("<td>").Append(l is null ? "" : Small(l.RelError)).Append("</td><td>").Append(l is null ? "" : Fixed(l.Cosine, 6)).Append("</td>");
            }
            page.Append("</tr>\n");
        }
        page.Append("</tbody></table></details>\n");
    }

    private static void Tensors(StringBuilder page, DiffResult r)
    {
        if (!r.Candidates.Any(c => c.Tensors is not null)) return;
        page.Append("<h2 id=\"tensors\">KL added per tensor</h2>\n<p class=\"note\">Each row: the candidate's copy of one stored tensor, every other tensor from the reference. ")
            .Append("A tensor that serves several steps (a shared block, a shared FFN, a tied head) is one row, with its steps.</p>\n");
        for (int i = 0; i < r.Candidates.Count; i++)
        {
            var c = r.Candidates[i];
            if (c.Tensors is null) continue;
            page.Append("<h3>").Append(Escape(Legend(i, c))).Append("</h3>\n");
            if (c.Tensors.Count == 0)
            {
                page.Append("<p class=\"note\">No stored tensor differs from the reference.</p>\n");
                continue;
            }
            var ranked = c.Tensors.Select((t, k) => (t, k)).OrderByDescending(x => x.t.DeltaKl).ThenBy(x => x.k).Select(x => x.t).ToList();
            page.Append("<figure>");
            int bars = Math.Min(ranked.Count, DiffPlots.MaxTensorBars);
            Image(page, DiffPlots.TensorBars(ranked, Legend(i, c)), DiffPlots.BarWidth, DiffPlots.BarChromeHeight + DiffPlots.BarRowHeight * bars, "KL added per tensor, " + Legend(i, c));
            page.Append("</figure>\n<details><summary>All ").Append(Int(ranked.Count)).Append(" tensors</summary>\n<table class=\"num\"><thead><tr><th>#</th><th>tensor</th><th>type ref</th><th>type cand</th><th>steps</th><th>Δ KL</th></tr></thead>\n<tbody>\n");
            for (int k = 0; k < Math.Min(ranked.Count, MaxTensorRows); k++)
            {
                var t = ranked[k];
                page.Append("<tr><td>").Append(Int(k + 1)).Append("</td><td class=\"text\"><code>").Append(Escape(t.Name)).Append("</code></td><td>")
                    .Append(Escape(t.TypeRef)).Append("</td><td>").Append(Escape(t.TypeCand)).Append("</td><td>")
                    .Append(t.Steps.Count == 0 ? "—" : string.Join(", ", t.Steps.Select(Int))).Append("</td><td>").Append(Signed(t.DeltaKl)).Append("</td></tr>\n");
            }
            if (ranked.Count > MaxTensorRows) page.Append("<tr><td colspan=\"6\">… ").Append(Int(ranked.Count - MaxTensorRows)).Append(" more (see the JSON output)</td></tr>\n");
            page.Append("</tbody></table></details>\n");
        }
    }

    private static void Worst(StringBuilder page, DiffResult r)
    {
        page.Append("<h2 id=\"worst\">Worst positions</h2>\n");
        for (int i = 0; i < r.Candidates.Count; i++)
        {
            var c = r.Candidates[i];
            page.Append("<h3>").Append(Escape(Legend(i, c))).Append("</h3>\n");
            if (c.Worst.Count == 0)
            {
                page.Append("<p class=\"note\">None recorded.</p>\n");
                continue;
            }
            page.Append("<table class=\"worst\"><thead><tr><th>position</th><th>KL</th><th>text before the position</th><th>reference predicts</th><th>candidate predicts</th></tr></thead>\n<tbody>\n");
            foreach (var w in c.Worst.Take(MaxWorstShown))
            {
                page.Append("<tr><td>").Append(Int(w.Position)).Append("</td><td>").Append(Small(w.Kl)).Append("</td><td class=\"text\"><span class=\"ctx\">")
                    .Append(Escape(w.Context)).Append("</span></td><td class=\"tok\">").Append(Escape(w.RefToken)).Append("</td><td class=\"tok\">")
                    .Append(Escape(w.CandToken)).Append("</td></tr>\n");
            }
            page.Append("</tbody></table>\n");
        }
    }

    private static void Image(StringBuilder page, byte[] png, int width, int height, string alt) =>
        page.Append("<img width=\"").Append(Int(width)).Append("\" height=\"").Append(Int(height)).Append("\" alt=\"").Append(Escape(alt))
            .Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\">");

    private const string Css =
        "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1180px}" +
        "h1{font-size:22px;margin:0 0 12px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}" +
        "dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:13px}dl.meta dt{color:#666}dl.meta dd{margin:0;overflow-wrap:anywhere}" +
        "table{border-collapse:collapse;font-size:12px;margin:6px 0}th,td{border:1px solid #ddd;padding:3px 6px}thead th{background:#f4f4f4}tbody th{text-align:left;max-width:190px;overflow-wrap:anywhere}table.num td.ci{white-space:normal;min-width:70px}" +
        "table.num td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}table td.text{text-align:left;white-space:normal}" +
        "td.pass{color:#0a7a2f;font-weight:bold}td.fail{color:#c1121f;font-weight:bold}td.none{color:#888}" +
        "table.worst td{vertical-align:top}table.worst td.text{max-width:640px;overflow-wrap:anywhere}" +
        ".ctx,.tok{font-family:'DejaVu Sans Mono',monospace;white-space:pre-wrap}.tok{background:#fff6d6}" +
        ".ctl{color:#c1121f;background:#fde8e8;border-radius:2px}" +
        ".grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:6px 0}figcaption,.note{font-size:12px;color:#555;max-width:1100px}" +
        "img{display:block;border:1px solid #eee}.empty{width:560px;padding:24px 0;text-align:center;color:#555;border:1px dashed #ccc}" +
        "details{margin:6px 0 14px}summary{cursor:pointer;font-size:13px}footer{margin-top:32px;font-size:11px;color:#888}";
}
