using System.Diagnostics;
using System.Text.Json;

namespace MobileLlmConvert.Tests.Oracles;

/// <summary>
/// Element type of llama.cpp's KV cache. F32 (the oracle's default) removes the cache's rounding, so
/// llama.cpp's numbers can be compared with an f32 executor at 1e-5; F16 is llama.cpp's own default.
/// </summary>
public enum LlamaCppKvCache
{
    F16,
    F32,
}

/// <summary>llama.cpp's next-token probabilities: row i is the distribution after Tokens[0..i].</summary>
public sealed record LlamaCppProbabilities(int[] Tokens, double[][] Probabilities);

/// <summary>
/// Runs llama.cpp (the npm package node-llama-cpp, pinned in tests/oracles/package.json) on a GGUF
/// through the scripts in tests/oracles/. The results are plain arrays so that any test can compare
/// them with our executor's numbers.
/// </summary>
public static class LlamaCppOracle
{
    /// <summary>One script run loads the model and evaluates; ~1 s on the tiny fixtures. Generous for loaded CI machines.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(3);

    private static readonly Lazy<string> Root = new(FindRepoRoot);

    /// <summary>The repository root: the first ancestor of the test binaries holding MobileLlmConvert.sln.</summary>
    public static string RepoRoot => Root.Value;

    public static string OraclesDirectory => Path.Combine(RepoRoot, "tests", "oracles");

    /// <summary>
    /// `node llama-probs.mjs MODEL --tokens a,b,c --threads N --kv-cache f32|f16`: no BOS is added,
    /// flash attention is off. Row i of the result is the distribution after tokens[0..i].
    /// </summary>
    public static LlamaCppProbabilities Probabilities(string ggufPath, IReadOnlyList<int> tokens, int threads = 1,
        LlamaCppKvCache kvCache = LlamaCppKvCache.F32, TimeSpan? timeout = null)
    {
        var json = RunScript("llama-probs.mjs", [Path.GetFullPath(ggufPath), "--tokens", string.Join(",", tokens),
            "--threads", threads.ToString(), "--kv-cache", kvCache == LlamaCppKvCache.F32 ? "f32" : "f16"], timeout);
        var doc = JsonSerializer.Deserialize<ProbsJson>(json, JsonOptions)
            ?? throw new InvalidOperationException("llama-probs.mjs printed null");
        return new LlamaCppProbabilities(doc.Tokens, doc.Probabilities);
    }

    /// <summary>`node llama-tokenize.mjs MODEL --text TEXT`: llama.cpp's token ids, no BOS added.</summary>
    public static int[] Tokenize(string ggufPath, string text, TimeSpan? timeout = null)
    {
        var json = RunScript("llama-tokenize.mjs", [Path.GetFullPath(ggufPath), "--text", text], timeout);
        var doc = JsonSerializer.Deserialize<TokenizeJson>(json, JsonOptions)
            ?? throw new InvalidOperationException("llama-tokenize.mjs printed null");
        return doc.Tokens;
    }

    /// <summary>`node llama-tokenize.mjs MODEL --texts-json [...]`: llama.cpp's ids of each text (one model load), no BOS added.</summary>
    public static int[][] TokenizeAll(string ggufPath, IReadOnlyList<string> texts, TimeSpan? timeout = null)
    {
        var output = RunScript("llama-tokenize.mjs", [Path.GetFullPath(ggufPath), "--texts-json", JsonSerializer.Serialize(texts)], timeout);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length != texts.Count) throw new InvalidOperationException($"llama-tokenize.mjs printed {lines.Length} results for {texts.Count} texts");
        var result = new int[texts.Count][];
        for (int i = 0; i < lines.Length; i++)
        {
            var doc = JsonSerializer.Deserialize<TokenizeJson>(lines[i], JsonOptions) ?? throw new InvalidOperationException("llama-tokenize.mjs printed null");
            if (doc.Text != texts[i]) throw new InvalidOperationException($"llama-tokenize.mjs answered for {doc.Text}, not {texts[i]}");
            result[i] = doc.Tokens;
        }
        return result;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };

    private sealed record ProbsJson(int[] Tokens, double[][] Probabilities);

    private sealed record TokenizeJson(string Text, int[] Tokens);

    private static string RunScript(string script, IReadOnlyList<string> args, TimeSpan? timeout) =>
        RunScript(OraclesDirectory, script, args, timeout);

    internal static string RunScript(string dir, string script, IReadOnlyList<string> args, TimeSpan? timeout)
    {
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "node-llama-cpp")))
            throw new InvalidOperationException($"llama.cpp oracle is not installed ({Path.Combine(dir, "node_modules")} is missing): run `npm ci --prefix tests/oracles` from the repository root");
        var psi = new ProcessStartInfo("node")
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(dir, script));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
        // Both pipes are drained concurrently: a full stderr pipe must never block the child while we read stdout.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var limit = timeout ?? DefaultTimeout;
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"node {script} did not finish within {limit.TotalSeconds:0} s");
        }
        process.WaitForExit(); // flushes the async readers
        var output = stdout.GetAwaiter().GetResult();
        var errors = stderr.GetAwaiter().GetResult();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"node {script} exited with {process.ExitCode}: {Tail(errors)}");
        return output;
    }

    private static string Tail(string s) => s.Length <= 2000 ? s.Trim() : "…" + s[^2000..].Trim();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MobileLlmConvert.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no MobileLlmConvert.sln above {AppContext.BaseDirectory}");
    }
}
