using System.Globalization;
using MobileLlmConvert.Fuzz;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Fuzz;

/// <summary>
/// The fuzz stage of the suite: every reader of the target table (tests/MobileLlmConvert.Fuzz)
/// runs for a bounded time, and every regression input under testdata/fuzz/ replays with its
/// recorded outcome. MLC_FUZZ_SECONDS sets the time per target (default 20: eight targets stay
/// under four minutes on two cores); MLC_FUZZ_SEED replays a run (default: the UTC day).
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const double DefaultSeconds = 20;

    public static TheoryData<string> Targets => new(FuzzTargets.All.Select(t => t.Name));

    private static double Seconds =>
        Environment.GetEnvironmentVariable("MLC_FUZZ_SECONDS") is { Length: > 0 } s ? double.Parse(s, CultureInfo.InvariantCulture) : DefaultSeconds;

    private static ulong Seed =>
        Environment.GetEnvironmentVariable("MLC_FUZZ_SEED") is { Length: > 0 } s ? ulong.Parse(s, CultureInfo.InvariantCulture) : FuzzRunner.DefaultSeed();

    private static string RegressionDir(string target) => Path.Combine(FuzzTargets.RepoRoot, "testdata", "fuzz", target);

    [Theory]
    [MemberData(nameof(Targets))]
    public void Bounded_run_finds_nothing(string name)
    {
        var target = FuzzTargets.Get(name);
        var findings = Path.Combine(Path.GetTempPath(), "mlc-fuzz-findings");
        var stats = FuzzRunner.Run(target, Seed, TimeSpan.FromSeconds(Seconds), long.MaxValue, findings);
        output.WriteLine(stats.ToString());
        Assert.True(stats.Failure is null, stats.Failure?.ToString());
        // The mutations reach the reader's rules: a target whose inputs never got past one check would find nothing while passing.
        Assert.True(stats.Inputs >= 100, $"only {stats.Inputs} inputs ran");
        Assert.True(stats.Rules >= 3, $"{name}: refusals by only {stats.Rules} rules: {string.Join(", ", stats.Refusals.Keys)}");
    }

    /// <summary>Every seed reads cleanly: a target that refused its own seeds would fuzz only its first check.</summary>
    [Theory]
    [MemberData(nameof(Targets))]
    public void Seeds_are_accepted(string name)
    {
        var target = FuzzTargets.Get(name);
        var seeds = target.Seeds();
        Assert.NotEmpty(seeds);
        using var scratch = new FuzzScratch();
        foreach (var seed in seeds)
            Assert.Equal((seed.Name, FuzzOutcome.Accepted), (seed.Name, FuzzRunner.RunOne(target, seed.Bytes, scratch).Summary));
    }

    /// <summary>Input i of a run is a function of the run seed and i: the replay command in a failure message reproduces it.</summary>
    [Theory]
    [MemberData(nameof(Targets))]
    public void Inputs_are_reproducible_from_seed_and_index(string name)
    {
        var target = FuzzTargets.Get(name);
        var seeds = target.Seeds();
        for (long i = 0; i < 50; i++)
            Assert.Equal(FuzzRunner.Input(target, seeds, 42, i), FuzzRunner.Input(target, seeds, 42, i));
        Assert.NotEqual(FuzzRunner.Input(target, seeds, 42, 7), FuzzRunner.Input(target, seeds, 43, 7));
    }

    /// <summary>
    /// Inputs the fuzzer once broke a reader with, kept as testdata/fuzz/&lt;target&gt;/NAME.bin, with
    /// NAME.txt holding the outcome the fixed reader gives (its one-line error message, or "accepted").
    /// </summary>
    [Theory]
    [MemberData(nameof(Targets))]
    public void Regression_inputs_replay_with_their_recorded_outcome(string name)
    {
        var target = FuzzTargets.Get(name);
        var dir = RegressionDir(name);
        if (!Directory.Exists(dir)) return;
        using var scratch = new FuzzScratch();
        foreach (var file in Directory.EnumerateFiles(dir, "*.bin").Order(StringComparer.Ordinal))
        {
            string expected = File.ReadAllText(Path.ChangeExtension(file, ".txt")).TrimEnd('\n');
            var outcome = FuzzRunner.RunOne(target, File.ReadAllBytes(file), scratch);
            Assert.False(outcome.Finding, $"{Path.GetFileName(file)}: {outcome.Summary}");
            Assert.Equal((Path.GetFileName(file), expected), (Path.GetFileName(file), outcome.Summary));
        }
    }

    [Fact]
    public void Every_regression_folder_names_a_target()
    {
        var root = Path.Combine(FuzzTargets.RepoRoot, "testdata", "fuzz");
        if (!Directory.Exists(root)) return;
        var names = FuzzTargets.All.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var dir in Directory.EnumerateDirectories(root))
            Assert.Contains(Path.GetFileName(dir), names);
    }
}
