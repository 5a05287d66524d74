using System.Reflection;
using System.Text.Json;
using MobileLlmConvert.Cli;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Cli;

/// <summary>
/// The CLI contract a CI job relies on, one test per class of failure: the exact stderr line
/// (`mlconvert: error: ...`), the exit code, and with --json the error document on stdout naming the
/// same file, field and value.
/// </summary>
public sealed class CliContractTests
{
    private static string Tiny => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "models", "llama-tiny");
    private static string SmolLm => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "tokenizers", "smollm2-tiny");

    /// <summary>Runs the command twice, without and with --json: same stderr line and exit code both times.</summary>
    private static JsonElement Fails(string[] args, string expectedLine, int exit = 2)
    {
        var text = CliRunner.Run(args);
        Assert.True(text.ExitCode == exit, text.ToString());
        Assert.Equal(expectedLine + Environment.NewLine, text.Stderr);
        Assert.Equal("", text.Stdout);

        var json = CliRunner.Run([.. args, "--json"]);
        Assert.True(json.ExitCode == exit, json.ToString());
        Assert.Equal(expectedLine + Environment.NewLine, json.Stderr);
        var root = JsonDocument.Parse(json.Stdout).RootElement.Clone();
        Assert.Equal("mlconvert/1", root.GetProperty("schema").GetString());
        Assert.Equal(exit, root.GetProperty("exit").GetInt32());
        return root;
    }

    private static void AssertError(JsonElement root, string? verb, string? file, string? field, string? value, string message)
    {
        Assert.Equal(verb, root.GetProperty("verb").GetString());
        var e = root.GetProperty("error");
        Assert.Equal(file, e.GetProperty("file").GetString());
        Assert.Equal(field, e.GetProperty("field").GetString());
        Assert.Equal(value, e.GetProperty("value").GetString());
        Assert.Equal(message, e.GetProperty("message").GetString());
    }

    [Fact]
    public void AUsageErrorIsOneErrorLineWithNoFile()
    {
        var root = Fails(["logits", Tiny, "--tokens", "1,999"], "mlconvert: error: --tokens: token id 999 is outside the vocabulary (size 320)");
        AssertError(root, "logits", null, null, null, "--tokens: token id 999 is outside the vocabulary (size 320)");
    }

    [Fact]
    public void ABadFileNamesFileFieldAndValue()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["bad.gguf"], "GGUX\0\0\0\0\0\0\0\0"u8.ToArray());
        var root = Fails(["inspect", dir["bad.gguf"]], $"mlconvert: error: {dir["bad.gguf"]}: magic = 0x47475558: not a GGUF file (expected the bytes \"GGUF\")");
        AssertError(root, "inspect", dir["bad.gguf"], "magic", "0x47475558", "not a GGUF file (expected the bytes \"GGUF\")");
    }

    [Fact]
    public void AMissingModelIsAUsageError()
    {
        using var dir = new TempDir();
        var root = Fails(["inspect", dir["missing"]], $"mlconvert: error: {dir["missing"]}: no such file or directory");
        AssertError(root, "inspect", null, null, null, $"{dir["missing"]}: no such file or directory");
    }

    [Fact]
    public void AMissingFileNamedByAnOptionIsNotDotNetsText()
    {
        using var dir = new TempDir();
        var root = Fails(["verify", Tiny, "--reference", Tiny, "--text", dir["missing.txt"]], $"mlconvert: error: {dir["missing.txt"]}: not found");
        AssertError(root, "verify", dir["missing.txt"], null, null, "not found");
    }

    [Fact]
    public void AnOutputUnderARegularFileNamesThatFileNotOurTemporary()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["file"], "x");
        var root = Fails(["convert", Tiny, "--to", "gguf", "-o", Path.Combine(dir["file"], "m.gguf")], $"mlconvert: error: {dir["file"]}: exists and is not a directory");
        AssertError(root, "convert", dir["file"], null, null, "exists and is not a directory");
        Assert.Equal(["file"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void AMisspelledVerbSuggestsTheNearestVerb()
    {
        var root = Fails(["convrt", Tiny], "mlconvert: error: 'convrt' is not a verb; did you mean 'convert'? (try 'mlconvert --help')");
        AssertError(root, null, null, null, null, "'convrt' is not a verb; did you mean 'convert'? (try 'mlconvert --help')");
    }

    [Fact]
    public void AWordLikeNoVerbGetsNoSuggestion() =>
        Fails(["frobnicate"], "mlconvert: error: 'frobnicate' is not a verb (try 'mlconvert --help')");

    [Fact]
    public void AMisspelledOptionSuggestsTheNearestOptionOfThatVerb()
    {
        var root = Fails(["inspect", Tiny, "--no-tensor"], "mlconvert: error: unknown option '--no-tensor'; did you mean '--no-tensors'? (try 'mlconvert inspect --help')");
        AssertError(root, "inspect", null, null, null, "unknown option '--no-tensor'; did you mean '--no-tensors'? (try 'mlconvert inspect --help')");
    }

    [Fact]
    public void AValueOfTheWrongTypeSaysWhatToType()
    {
        var root = Fails(["generate", Tiny, "-p", "hi", "--temperature", "warm"],
            "mlconvert: error: Cannot parse argument 'warm' for option '--temperature' as a number. (try 'mlconvert generate --help')");
        AssertError(root, "generate", null, null, null, "Cannot parse argument 'warm' for option '--temperature' as a number. (try 'mlconvert generate --help')");
    }

    [Fact]
    public void ControlCharactersInAMisspelledVerbAreEscaped() =>
        Fails(["conv\u001b[2Jert\nx"], "mlconvert: error: 'conv\\x1b[2Jert\\nx' is not a verb (try 'mlconvert --help')");

    [Fact]
    public void AnEmptyPromptWithNoBosIsAUsageError()
    {
        var root = Fails(["generate", SmolLm, "-p", ""], "mlconvert: error: --prompt: the text encodes to no tokens and this tokenizer adds no BOS; give a non-empty prompt");
        AssertError(root, "generate", null, null, null, "--prompt: the text encodes to no tokens and this tokenizer adds no BOS; give a non-empty prompt");
    }

    [Fact]
    public void AnEmptyPromptWithBosGeneratesFromBos()
    {
        var r = CliRunner.Run("generate", Tiny, "-p", "", "-n", "2", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal([1], root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(2, root.GetProperty("ids").GetArrayLength());
    }

    [Fact]
    public void VersionPrintsTheInformationalVersion()
    {
        var r = CliRunner.Run("--version");
        Assert.Equal(0, r.ExitCode);
        string expected = typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(expected + Environment.NewLine, r.Stdout);
    }

    /// <summary>.NET's I/O texts become a path and a short reason; a temporary of ours is named by its output.</summary>
    [Theory]
    [InlineData("System.IO.IOException", "No space left on device : '/data/.m.gguf.mlconvert-4242-0123abcd.tmp'", 28, "mlconvert: error: /data/m.gguf: no space left on device")]
    [InlineData("System.IO.IOException", "The file '/data/out' already exists.", 17, "mlconvert: error: /data/out: exists and is not a directory")]
    [InlineData("System.IO.DirectoryNotFoundException", "Could not find a part of the path '/data/x/.b.mlconvert-7-ff.tmp'.", 0, "mlconvert: error: /data/x/b: directory not found")]
    [InlineData("System.UnauthorizedAccessException", "Access to the path '/data/.b.mlconvert.lock' is denied.", 0, "mlconvert: error: /data/b: permission denied")]
    [InlineData("System.InvalidOperationException", "boom\nsecond line", 0, "mlconvert: error: internal error (InvalidOperationException): boom\\nsecond line")]
    public void AFailureIsOneLineWithoutDotNetWording(string type, string message, int hresult, string expected)
    {
        var ex = (Exception)Activator.CreateInstance(Type.GetType(type)!, message)!;
        ex.HResult = hresult == 0 ? ex.HResult : hresult;
        var stderr = new StringWriter();
        int code = CliApp.ReportFailure(ex, stderr);
        Assert.Equal(type.EndsWith("InvalidOperationException", StringComparison.Ordinal) ? 3 : 2, code);
        Assert.Equal(expected + Environment.NewLine, stderr.ToString());
    }

    public static TheoryData<string> Verbs() => ["inspect", "logits", "generate", "convert", "hf2mobile", "verify", "diff", "bench", "synth", "tokenize"];

    /// <summary>
    /// Help shows a default once: an option with System.CommandLine's "[default: X]" does not also say
    /// "default" in its description.
    /// </summary>
    [Theory]
    [MemberData(nameof(Verbs))]
    public void HelpShowsEachDefaultOnce(string verb)
    {
        var r = CliRunner.Run(verb, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Options:", r.Stdout);
        foreach (var line in r.Stdout.Split('\n'))
        {
            int at = line.IndexOf("[default: ", StringComparison.Ordinal);
            if (at >= 0) Assert.DoesNotContain("default", line[..at], StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void EveryVerbTakesJson()
    {
        foreach (var verb in Verbs())
        {
            var r = CliRunner.Run(verb, "--help");
            Assert.Contains("--json", r.Stdout);
        }
    }
}
