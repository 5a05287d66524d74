using System.Buffers.Binary;
using System.Text.RegularExpressions;
using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert.Reports.Tests;

public sealed partial class DiffReportTests
{
    [GeneratedRegex("<img [^>]*>")]
    private static partial Regex ImgTag();

    [GeneratedRegex("width=\"(\\d+)\" height=\"(\\d+)\" alt=\"[^\"]*\" src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"")]
    private static partial Regex ImgParts();

    [Fact]
    public void The_same_result_gives_byte_identical_pages_and_files()
    {
        using var dir = new TempDir();
        string first = DiffReport.Html(SampleDiff.Make());
        string second = DiffReport.Html(SampleDiff.Make());
        Assert.Equal(first, second);

        DiffReport.WriteHtml(SampleDiff.Make(), dir["a.html"]);
        DiffReport.WriteHtml(SampleDiff.Make(), dir["b.html"]);
        Assert.Equal(File.ReadAllBytes(dir["a.html"]), File.ReadAllBytes(dir["b.html"]));
        Assert.Equal(first, File.ReadAllText(dir["a.html"]));
        Assert.NotEqual(first, DiffReport.Html(SampleDiff.Make(seed: 8)));
    }

    [Fact]
    public void Writing_leaves_only_the_report_and_replaces_it_whole()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["report.html"], "old");
        DiffReport.WriteHtml(SampleDiff.Make(), dir["report.html"]);
        Assert.Equal(["report.html"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
        Assert.StartsWith("<!DOCTYPE html>", File.ReadAllText(dir["report.html"]));
        Assert.NotEqual(0xEF, File.ReadAllBytes(dir["report.html"])[0]);
    }

    [Fact]
    public void The_page_is_self_contained_and_every_image_is_a_png_of_its_stated_size()
    {
        string html = DiffReport.Html(SampleDiff.Make());
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http:", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https:", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("href=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">", html);

        // Two candidates: a histogram each, two per-layer curves, a tensor chart each.
        var tags = ImgTag().Matches(html);
        Assert.Equal(6, tags.Count);
        foreach (Match tag in tags)
        {
            var parts = ImgParts().Match(tag.Value);
            Assert.True(parts.Success, tag.Value[..Math.Min(200, tag.Value.Length)]);
            byte[] png = Convert.FromBase64String(parts.Groups[3].Value);
            // PNG signature, then the IHDR chunk whose first two fields are width and height (RFC 2083, 4.1.1).
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
            Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
            Assert.Equal(int.Parse(parts.Groups[1].Value), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
            Assert.Equal(int.Parse(parts.Groups[2].Value), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        }
    }

    [Fact]
    public void The_summary_row_shows_each_candidate_with_its_gate()
    {
        var result = SampleDiff.Make();
        var q8 = result.Candidates[0];
        string html = DiffReport.Html(result with { Candidates = [q8, result.Candidates[1], q8 with { Model = "x/no-gate.gguf", Passed = null }] });
        string row = Row(html, "C1 mobilellm-125m-ls.q8_0.gguf");
        Assert.Contains($"<td>{HtmlText.Small(q8.Kl.Mean)}</td><td class=\"ci\">[{HtmlText.Small(q8.MeanKlCi95Low)}, {HtmlText.Small(q8.MeanKlCi95High)}]</td>", row);
        Assert.Contains($"<td>{HtmlText.Small(q8.Kl.P999)}</td><td>{HtmlText.Small(q8.Kl.Max)}</td>", row);
        Assert.Contains("<td>11.873</td>", row);
        Assert.EndsWith("<td>—</td><td class=\"pass\">pass</td></tr>", row);
        Assert.EndsWith("<td>step 17</td><td class=\"fail\">FAIL</td></tr>", Row(html, "C2 mobilellm-125m-ls.q4_0.gguf"));
        Assert.EndsWith("<td class=\"none\">no gate</td></tr>", Row(html, "C3 no-gate.gguf"));
    }

    [Fact]
    public void Numbers_are_formatted_the_same_way_everywhere()
    {
        Assert.Equal("1.235e-4", HtmlText.Small(0.00012345));
        Assert.Equal("0.01235", HtmlText.Small(0.0123456));
        Assert.Equal("0", HtmlText.Small(0));
        Assert.Equal("∞", HtmlText.Small(double.PositiveInfinity));
        Assert.Equal("+0.05", HtmlText.Signed(0.05));
        Assert.Equal("-2.000e-5", HtmlText.Signed(-2e-5));
        Assert.Equal("98.76 %", HtmlText.Percent(0.98764));
    }

    [Fact]
    public void User_text_is_escaped_and_invisible_characters_are_shown()
    {
        string hostile = "</td></tr></table><script>alert(1)</script>\u0000\u001b[31m\u202egnp.exe\n'\"&";
        var result = SampleDiff.Make(worstContext: hostile);
        var q4 = result.Candidates[1];
        result = result with
        {
            Reference = "<img src=x onerror=alert(2)>",
            Candidates = [q4 with
            {
                Model = "dir/\"><script>alert(3)</script>",
                Tensors = [new TensorDelta("blk.0.<b>bold</b>\u0007", "f32", "q4_0<i>", [0, 1], 0.1)],
                Worst = [q4.Worst[0] with { RefToken = "<s>", CandToken = "\u0085\u2066" }],
            }],
        };
        string html = DiffReport.Html(result);

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img src=x", html);
        Assert.DoesNotContain("<b>", html);
        Assert.DoesNotContain("<i>", html);
        Assert.DoesNotContain("<s>", html);
        Assert.DoesNotContain('\u202e', html);
        Assert.DoesNotContain('\u2066', html);
        Assert.All(html, c => Assert.True(c >= ' ' || c == '\n', $"control character U+{(int)c:X4} in the page"));
        Assert.Contains(
            "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(1)&lt;/script&gt;<span class=\"ctl\">␀</span><span class=\"ctl\">␛</span>[31m" +
            "<span class=\"ctl\">\\u202E</span>gnp.exe<span class=\"ctl\">␊</span>&#39;&quot;&amp;", html);
        Assert.Contains("<code>blk.0.&lt;b&gt;bold&lt;/b&gt;<span class=\"ctl\">␇</span></code>", html);
        Assert.Contains("<td class=\"tok\">&lt;s&gt;</td><td class=\"tok\"><span class=\"ctl\">\\u0085</span><span class=\"ctl\">\\u2066</span></td>", html);
        Assert.Contains("<title>mlconvert diff: &lt;img src=x onerror=alert(2)&gt;</title>", html);
    }

    [Fact]
    public void Lone_surrogates_become_replacement_characters_and_pairs_survive()
    {
        Assert.Equal("a\ufffdb😀", HtmlText.Escape("a\ud800b😀"));
        Assert.Equal("\ufffd", HtmlText.Escape("\udc00"));
    }

    [Fact]
    public void Sections_not_asked_for_are_left_out()
    {
        var result = SampleDiff.Make();
        result = result with { Candidates = result.Candidates.Select(c => c with { Layers = null, Tensors = null }).ToList() };
        string html = DiffReport.Html(result);
        Assert.DoesNotContain("id=\"layers\"", html);
        Assert.DoesNotContain("id=\"tensors\"", html);
        Assert.Contains("id=\"worst\"", html);
        Assert.Equal(2, ImgTag().Matches(html).Count);
    }

    [Fact]
    public void A_candidate_identical_to_the_reference_gets_a_sentence_instead_of_an_empty_histogram()
    {
        var result = SampleDiff.Make();
        var same = result.Candidates[0] with { KlPerPosition = new double[SampleDiff.Tokens], Tensors = [] };
        string html = DiffReport.Html(result with { Candidates = [same] });
        Assert.Contains("no position with a positive KL", html);
        Assert.Contains("4096 positions; 4096 with KL = 0 (identical distributions, not drawn)", html);
        Assert.Contains("No stored tensor differs from the reference.", html);
    }

    [Fact]
    public void Tensors_are_ranked_by_added_KL_and_a_shared_tensor_names_its_steps()
    {
        var result = SampleDiff.Make();
        var c = result.Candidates[1] with
        {
            Tensors =
            [
                new TensorDelta("blk.0.attn_q.weight", "f32", "q4_0", [0], 0.001),
                new TensorDelta("blk.1.ffn_down.weight", "f32", "q4_0", [2, 3], 0.05),
                new TensorDelta("token_embd.weight", "f32", "q4_0", [], -0.0001),
            ],
        };
        string html = DiffReport.Html(result with { Candidates = [c] });
        int shared = html.IndexOf("<td>1</td><td class=\"text\"><code>blk.1.ffn_down.weight</code></td><td>f32</td><td>q4_0</td><td>2, 3</td><td>+0.05</td>", StringComparison.Ordinal);
        int single = html.IndexOf("<td>2</td><td class=\"text\"><code>blk.0.attn_q.weight</code></td><td>f32</td><td>q4_0</td><td>0</td><td>+0.001</td>", StringComparison.Ordinal);
        int embedding = html.IndexOf("<td>3</td><td class=\"text\"><code>token_embd.weight</code></td><td>f32</td><td>q4_0</td><td>—</td><td>-1.000e-4</td>", StringComparison.Ordinal);
        Assert.True(shared > 0 && single > shared && embedding > single, "ranking by delta KL");
        Assert.Equal("blk.1.ffn_down.weight (q4_0) · steps 2,3", DiffPlots.TensorLabel(c.Tensors![1]));
        Assert.Equal("token_embd.weight (q4_0)", DiffPlots.TensorLabel(c.Tensors![2]));
        // MobiLlama: one FFN serves every step.
        Assert.Equal("blk.0.ffn_down.weight (q8_0) · steps 0-21", DiffPlots.TensorLabel(new TensorDelta("blk.0.ffn_down.weight", "f32", "q8_0", [.. Enumerable.Range(0, 22)], 0)));
        Assert.Equal("1,3-5,7,8", DiffPlots.StepRanges([8, 1, 3, 4, 5, 7, 4]));
    }

    [Fact]
    public void Per_step_table_shows_the_stored_block_each_step_runs()
    {
        string html = DiffReport.Html(SampleDiff.Make());
        var q8 = SampleDiff.Make().Candidates[0].Layers![5];
        Assert.Contains($"<tr><td>5</td><td>2</td><td>{HtmlText.Small(q8.RelError)}</td><td>{HtmlText.Fixed(q8.Cosine, 6)}</td>", html);
    }

    [Fact]
    public void Non_finite_numbers_and_an_empty_run_still_give_a_page()
    {
        var result = SampleDiff.Make();
        var c = result.Candidates[1];
        var broken = c with
        {
            Kl = new KlStats(double.NaN, 0, 0, double.PositiveInfinity, double.PositiveInfinity, double.PositiveInfinity),
            KlPerPosition = [double.NaN, double.PositiveInfinity, 1e-3, 2e-3],
            Layers = [new LayerError(0, 0, double.NaN, double.NaN), new LayerError(1, 0, double.PositiveInfinity, 0.5), new LayerError(2, 1, 0.1, 0.9)],
            Tensors = [new TensorDelta("a", "f32", "q4_0", [0], double.NaN), new TensorDelta("b", "f32", "q4_0", [1], 0.01)],
        };
        string html = DiffReport.Html(result with { Candidates = [broken] });
        Assert.Contains("<td>NaN</td>", html);
        Assert.Contains("4 positions; 2 not finite (not drawn)", html);
        Assert.Equal(4, ImgTag().Matches(html).Count);

        string empty = DiffReport.Html(new DiffResult("ref", "--tokens", 0, 0, []));
        Assert.Contains("<tbody>\n</tbody>", empty);
        Assert.Empty(ImgTag().Matches(empty));
    }

    private static string Row(string html, string candidate)
    {
        int start = html.IndexOf(">" + candidate + "</th>", StringComparison.Ordinal);
        Assert.True(start > 0, candidate);
        return html[start..html.IndexOf("</tr>", start, StringComparison.Ordinal)] + "</tr>";
    }
}
