using System.Net;
using System.Text.RegularExpressions;
using SkiaSharp;

namespace MobileLlmConvert.Reports.Tests;

/// <summary>
/// Opens the report in headless Chromium: the page must render (a screenshot with plots in it) and
/// every embedded PNG must decode in the browser. The page itself has no script and a CSP forbidding
/// one, so the image check loads a copy with a probe script added (and the CSP taken out) that
/// writes each image's decoded size into the DOM, which --dump-dom prints.
/// Set MLCONVERT_REPORT_KEEP=DIR to keep the report and the screenshot (docs/img/diff-report.png comes from it).
/// </summary>
public sealed partial class ChromiumRenderTests
{
    private const string Probe =
        "<script>addEventListener('load',()=>{const p=document.createElement('pre');p.id='probe';" +
        "p.textContent=JSON.stringify({images:[...document.images].map(i=>[i.complete,i.naturalWidth,i.naturalHeight])," +
        "scripts:document.scripts.length,context:document.querySelector('table.worst .ctx').textContent});" +
        "document.body.appendChild(p);});</script>";

    private const string Hostile = "</td><script>document.title='pwned'</script><img src=x>\u001b[0m";

    [GeneratedRegex("<pre id=\"probe\">(.*?)</pre>", RegexOptions.Singleline)]
    private static partial Regex ProbeOutput();

    [GeneratedRegex("<img width=\"(\\d+)\" height=\"(\\d+)\"")]
    private static partial Regex ImgSize();

    [ChromiumFact]
    public void Every_embedded_image_decodes_in_chromium_and_user_text_stays_text()
    {
        using var dir = new TempDir();
        string html = DiffReport.Html(SampleDiff.Make(worstContext: Hostile));
        string csp = $"<meta http-equiv=\"Content-Security-Policy\" content=\"{DiffReport.ContentSecurityPolicy}\">\n";
        Assert.Contains(csp, html);
        string probed = html.Replace(csp, "").Replace("</body>", Probe + "</body>");
        File.WriteAllText(dir["probe.html"], probed);

        string dom = Chromium.Run(dir.Path, dir["probe.html"], "--virtual-time-budget=20000", "--dump-dom");
        var match = ProbeOutput().Match(dom);
        Assert.True(match.Success, "the probe did not run: " + dom[..Math.Min(400, dom.Length)]);
        using var probe = System.Text.Json.JsonDocument.Parse(WebUtility.HtmlDecode(match.Groups[1].Value));

        var expected = ImgSize().Matches(html).Select(m => (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value))).ToList();
        var decoded = probe.RootElement.GetProperty("images").EnumerateArray()
            .Select(i => (i[0].GetBoolean(), i[1].GetInt32(), i[2].GetInt32())).ToList();
        Assert.Equal(6, expected.Count);
        Assert.Equal(expected.Select(e => (true, e.Item1, e.Item2)), decoded);
        Assert.Equal(1, probe.RootElement.GetProperty("scripts").GetInt32()); // the probe alone
        Assert.Equal(Hostile.Replace("\u001b", "␛"), probe.RootElement.GetProperty("context").GetString());
    }

    [ChromiumFact]
    public void The_report_renders_with_its_plots_in_a_screenshot()
    {
        using var dir = new TempDir();
        DiffReport.WriteHtml(SampleDiff.Make(), dir["report.html"]);
        const int width = 1200, height = 2000;
        Chromium.Run(dir.Path, dir["report.html"], "--screenshot=" + dir["shot.png"], $"--window-size={width},{height}");
        Assert.True(File.Exists(dir["shot.png"]), "no screenshot written");

        using var shot = SKBitmap.Decode(dir["shot.png"]);
        Assert.NotNull(shot);
        Assert.Equal((width, height), (shot.Width, shot.Height));
        int inked = 0, colored = 0;
        foreach (var p in shot.Pixels)
        {
            int hi = Math.Max(p.Red, Math.Max(p.Green, p.Blue)), lo = Math.Min(p.Red, Math.Min(p.Green, p.Blue));
            if (lo < 235) inked++;
            if (hi - lo > 60) colored++;  // plot bars and lines; text and table borders are grey
        }
        double area = (double)width * height;
        Assert.True(inked > area * 0.03, $"screenshot nearly blank: {inked} of {area} pixels inked");
        Assert.True(colored > area * 0.01, $"no plots visible: {colored} of {area} pixels colored");

        if (Environment.GetEnvironmentVariable("MLCONVERT_REPORT_KEEP") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            File.Copy(dir["report.html"], Path.Combine(keep, "diff-report.html"), overwrite: true);
            File.Copy(dir["shot.png"], Path.Combine(keep, "diff-report.png"), overwrite: true);
        }
    }
}
