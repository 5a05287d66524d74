using System.Diagnostics;
using System.Globalization;

namespace MobileLlmConvert.Fuzz;

/// <summary>What one input did: read, refused (with the message a user would see), or a finding.</summary>
/// <param name="Kind">The refusal's error kind (ModelFormatException.KindName).</param>
/// <param name="Rule">The kind and the field it names with indices dropped, for counting distinct rules reached.</param>
public sealed record FuzzOutcome(bool Finding, string Summary, string? Kind = null, string? Rule = null)
{
    public const string Accepted = "accepted";
}

/// <summary>A finding: enough to replay it (target, run seed, input index) and the input itself.</summary>
public sealed record FuzzFailure(string Target, ulong Seed, long Index, string Problem, string? SavedTo)
{
    public override string ToString() =>
        $"fuzz target '{Target}', input #{Index} of run seed {Seed}: {Problem}" +
        (SavedTo is null ? "" : $"; input saved to {SavedTo}") +
        $"; replay: bench/fuzz.sh --target {Target} --seed {Seed} --replay {Index}";
}

/// <summary>Counts of one run, for reports and for the tests' sanity checks.</summary>
public sealed record FuzzStats(string Target, ulong Seed, long Inputs, long Accepted, IReadOnlyDictionary<string, long> Refusals, int Rules, TimeSpan Elapsed, FuzzFailure? Failure)
{
    public double PerSecond => Inputs / Math.Max(Elapsed.TotalSeconds, 1e-9);

    public override string ToString() =>
        $"{Target}: {Inputs} inputs in {Elapsed.TotalSeconds:F1} s ({PerSecond:F0}/s), {Accepted} accepted, " +
        $"{Refusals.Values.Sum()} refused ({Refusals.Count} error kinds, {Rules} distinct kind and field pairs)" + (Failure is null ? "" : $"; FINDING: {Failure}");
}

/// <summary>
/// Runs a target's inputs on one worker thread, watched by the calling thread. Each input is timed
/// (over <see cref="FuzzLimits.SlowInput"/> twice in a row is a finding: a rerun filters out a busy
/// machine) and its allocations measured with GC.GetAllocatedBytesForCurrentThread. An input that
/// never returns is reported after <see cref="FuzzLimits.Hang"/>; its thread is a background thread
/// and is abandoned, so the process can still exit.
/// </summary>
public static class FuzzRunner
{
    /// <summary>Fields come from the input (tensor names): count at most this many distinct ones.</summary>
    private const int MaxRules = 10_000;

    /// <summary>Input <paramref name="index"/> of a run, exactly as the run generated it.</summary>
    public static byte[] Input(FuzzTarget target, IReadOnlyList<FuzzSeed> seeds, ulong seed, long index)
    {
        var bytes = Mutator.Generate(seeds, target.Json, seed, index);
        return target.Fixup is { } fix && index % 4 != 0 ? fix(bytes) : bytes;
    }

    /// <summary>Reads one input and classifies what happened (timing aside).</summary>
    public static FuzzOutcome RunOne(FuzzTarget target, byte[] input, FuzzScratch scratch)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        FuzzOutcome outcome;
        try
        {
            target.Run(input, scratch);
            outcome = new FuzzOutcome(false, FuzzOutcome.Accepted);
        }
        catch (Exception e) when (target.IsExpected(e))
        {
            var f = e as Core.Errors.ModelFormatException;
            outcome = new FuzzOutcome(false, scratch.Normalize(e.Message), f?.KindName ?? e.GetType().Name,
                f is null ? e.GetType().Name : f.KindName + " " + string.Concat(f.Field.Where(c => !char.IsAsciiDigit(c))));
        }
        catch (Exception e)
        {
            string where = e.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? "";
            outcome = new FuzzOutcome(true, $"{e.GetType().FullName}: {scratch.Normalize(e.Message)} {where}");
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > FuzzLimits.MaxAllocatedBytes)
            return new FuzzOutcome(true, $"allocated {allocated} bytes (limit {FuzzLimits.MaxAllocatedBytes}); outcome {outcome.Summary}");
        return outcome;
    }

    /// <param name="duration">Stop generating after this long (the input in flight finishes).</param>
    /// <param name="maxInputs">Stop after this many inputs.</param>
    /// <param name="crashDir">Where a finding's input is written (null: not written).</param>
    public static FuzzStats Run(FuzzTarget target, ulong seed, TimeSpan duration, long maxInputs, string? crashDir)
    {
        var seeds = target.Seeds();
        if (seeds.Count == 0) throw new InvalidOperationException($"fuzz target '{target.Name}' has no seeds");
        var refusals = new Dictionary<string, long>(StringComparer.Ordinal);
        var rules = new HashSet<string>(StringComparer.Ordinal);
        long inputs = 0, accepted = 0;
        long current = -1, startedAt = 0;
        FuzzFailure? failure = null;
        byte[]? failingInput = null;
        var clock = Stopwatch.StartNew();

        void Work()
        {
            using var scratch = new FuzzScratch();
            for (long i = 0; i < maxInputs && clock.Elapsed < duration; i++)
            {
                var input = Input(target, seeds, seed, i);
                Volatile.Write(ref startedAt, clock.ElapsedTicks);
                Volatile.Write(ref current, i);
                var outcome = Timed(target, input, scratch, out var took);
                if (!outcome.Finding && took > FuzzLimits.SlowInput)
                {
                    outcome = Timed(target, input, scratch, out took);
                    if (took > FuzzLimits.SlowInput) outcome = new FuzzOutcome(true, $"slow: {took.TotalSeconds:F1} s twice (limit {FuzzLimits.SlowInput.TotalSeconds} s); outcome {outcome.Summary}");
                }
                Interlocked.Increment(ref inputs);
                if (outcome.Finding)
                {
                    failingInput = input;
                    failure = new FuzzFailure(target.Name, seed, i, outcome.Summary, null);
                    return;
                }
                if (outcome.Summary == FuzzOutcome.Accepted) accepted++;
                else
                {
                    refusals[outcome.Kind!] = refusals.GetValueOrDefault(outcome.Kind!) + 1;
                    if (rules.Count < MaxRules) rules.Add(outcome.Rule!);
                }
            }
            Volatile.Write(ref current, -1);
        }

        var worker = new Thread(Work, 64 << 20) { IsBackground = true, Name = "fuzz " + target.Name };
        worker.Start();
        while (!worker.Join(100))
        {
            long index = Volatile.Read(ref current);
            var running = TimeSpan.FromTicks((long)((clock.ElapsedTicks - Volatile.Read(ref startedAt)) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
            if (index >= 0 && running > FuzzLimits.Hang && Volatile.Read(ref current) == index)
            {
                failingInput = Input(target, seeds, seed, index);
                failure = new FuzzFailure(target.Name, seed, index, $"hang: still running after {running.TotalSeconds:F0} s", null);
                break;
            }
        }
        if (failure is not null && failingInput is not null && crashDir is not null)
        {
            Directory.CreateDirectory(crashDir);
            string path = Path.Combine(crashDir, $"{target.Name}-{seed}-{failure.Index}.bin");
            File.WriteAllBytes(path, failingInput);
            failure = failure with { SavedTo = path };
        }
        return new FuzzStats(target.Name, seed, Interlocked.Read(ref inputs), accepted, refusals, rules.Count, clock.Elapsed, failure);
    }

    private static FuzzOutcome Timed(FuzzTarget target, byte[] input, FuzzScratch scratch, out TimeSpan took)
    {
        var watch = Stopwatch.StartNew();
        var outcome = RunOne(target, input, scratch);
        took = watch.Elapsed;
        return outcome;
    }

    /// <summary>The default run seed: the UTC day, so CI explores new inputs every day yet a rerun the same day replays.</summary>
    public static ulong DefaultSeed() => ulong.Parse(DateTime.UtcNow.ToString("yyyyMMdd", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
