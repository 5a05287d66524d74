namespace MobileLlmConvert.Tests.TestSupport;

/// <summary>What a user sees for a bad file: `mlconvert inspect` exits 2 with exactly one line on stderr.</summary>
public static class CliAssert
{
    /// <summary>Asserts exit code 2, nothing on stdout, and stderr exactly "mlconvert: error: MESSAGE".</summary>
    public static void RejectsWith(string path, string expectedMessage)
    {
        var r = CliRunner.Run("inspect", path);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Equal("", r.Stdout);
        Assert.Equal($"mlconvert: error: {expectedMessage}{Environment.NewLine}", r.Stderr);
    }

    /// <summary>Asserts exit code 2 and one stderr line that contains every fragment (file, field, value).</summary>
    public static void RejectsMentioning(string path, params string[] fragments)
    {
        var r = CliRunner.Run("inspect", path);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Equal("", r.Stdout);
        var lines = r.Stderr.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("mlconvert: error: ", lines[0]);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
    }
}
