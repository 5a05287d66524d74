namespace MobileLlmConvert.Tests.Diff;

/// <summary>`diff --report`: the page is written, an earlier report is replaced, anything else is kept unless --force.</summary>
public sealed class DiffReportCliTests
{
    [Fact]
    public void ReportIsWrittenReplacedWhenOursAndAForeignFileIsKept()
    {
        using var dir = new TempDir();
        string q4 = DiffKit.Bundle(dir, "q4");
        string ids = DiffKit.Ids(DiffKit.Tokens);
        string report = dir["report.html"];

        var first = CliRunner.Run("diff", DiffKit.Reference, q4, "--tokens", ids, "--per-layer", "--report", report);
        Assert.True(first.ExitCode == 0, first.ToString());
        string html = File.ReadAllText(report);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("<img", html);
        Assert.Contains(System.Net.WebUtility.HtmlEncode(q4), html);

        // A rerun replaces its own report without --force, with the same bytes.
        var again = CliRunner.Run("diff", DiffKit.Reference, q4, "--tokens", ids, "--per-layer", "--report", report);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(html, File.ReadAllText(report));

        // A file that is not a report of ours is never overwritten without --force, and nothing is left beside it.
        string notes = dir["notes.html"];
        File.WriteAllText(notes, "<p>my notes</p>");
        var refused = CliRunner.Run("diff", DiffKit.Reference, q4, "--tokens", ids, "--report", notes);
        Assert.Equal(2, refused.ExitCode);
        Assert.StartsWith($"mlconvert: error: {notes}: --output", refused.Stderr.Trim());
        Assert.Contains("pass --force to replace it", refused.Stderr);
        Assert.Equal("<p>my notes</p>", File.ReadAllText(notes));
        Assert.Equal(["notes.html", "q4", "report.html"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        var forced = CliRunner.Run("diff", DiffKit.Reference, q4, "--tokens", ids, "--report", notes, "--force");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.StartsWith("<!DOCTYPE html>", File.ReadAllText(notes));
    }
}
