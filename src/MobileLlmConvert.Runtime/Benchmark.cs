using System.Diagnostics;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;

namespace MobileLlmConvert.Runtime;

/// <summary>What <see cref="Benchmark.Run(ModelIr, BenchOptions)"/> measures.</summary>
public sealed record BenchOptions
{
    /// <summary>Worker threads of the executor.</summary>
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount);
    /// <summary>Prefill length when none is asked for, here and in the CLI's `bench --prompt-tokens`.</summary>
    public const int DefaultPromptTokens = 128;
    /// <summary>Decode steps when none are asked for, here and in the CLI's `bench --gen-tokens`.</summary>
    public const int DefaultGenTokens = 32;

    /// <summary>Prompt length P, run as one batched prefill.</summary>
    public int PromptTokens { get; init; } = DefaultPromptTokens;
    /// <summary>Tokens G decoded one at a time.</summary>
    public int GenTokens { get; init; } = DefaultGenTokens;
    /// <summary>
    /// Positions D already in the KV cache when each measured phase starts (filled by an untimed prefill
    /// of other ids): the prefill measures P tokens at positions D..D+P-1 and the decode G tokens at
    /// D..D+G-1, as llama-bench's <c>-p P -n G -d D</c> (llama.cpp tools/llama-bench, test_prompt /
    /// test_gen after the depth prefill). 0 = both phases from an empty cache.
    /// </summary>
    public int Depth { get; init; }
    /// <summary>Which quantized matmul path the executor uses; the CLI's bench default too: a benchmark measures the fast path unless asked otherwise.</summary>
    public QuantPath QuantPath { get; init; } = ExecutorOptions.GenerationQuantPath;
    /// <summary>Seed of the random prompt (ids drawn from the non-special range).</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>
/// Figures of one benchmark run. Peak working set is the process's (Process.PeakWorkingSet64), so it
/// includes the model as loaded by the caller; <c>ExecutorStateBytes</c> is the executor's own share
/// (KV cache for P + G positions, activations, scratch). Processor times are the whole process's.
/// </summary>
public sealed record BenchResult(
    int Threads,
    int PromptTokens,
    int GenTokens,
    int Depth,
    double PrefillTokensPerSecond,
    double DecodeTokensPerSecond,
    TimeSpan PrefillTime,
    TimeSpan DecodeTime,
    long PeakWorkingSetBytes,
    TimeSpan PrefillProcessorTime,
    TimeSpan DecodeProcessorTime,
    long ExecutorStateBytes)
{
    /// <summary>
    /// Processor time over wall time for the measured part: about the thread count on an idle machine,
    /// lower when other processes take the cores (then the tokens/s figures understate the executor).
    /// </summary>
    public double CpuUtilization => (PrefillProcessorTime + DecodeProcessorTime) / (PrefillTime + DecodeTime);
}

/// <summary>
/// The `bench` verb's measurement, with llama-bench's semantics so the two tools' figures compare:
/// P prompt tokens as one prefill (batched) after D cached positions, then, from a cache reset to the
/// same D positions, G greedy decode steps of one token each. A short warm-up run first takes JIT
/// compilation out of the figures.
/// </summary>
public static class Benchmark
{
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(1);
    private const int MaxWarmUpRounds = 50;

    /// <summary>Runs the warm-up, then the measured prefill and decode, on a fresh executor over <paramref name="ir"/>.</summary>
    public static BenchResult Run(ModelIr ir, BenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(ir);
        Check(options);
        using var model = new Transformer(ir, new ExecutorOptions
        {
            Threads = options.Threads,
            MaxContext = ContextNeeded(options),
            QuantPath = options.QuantPath,
        });
        return Run(model, options);
    }

    /// <summary>Positions a model must hold for <paramref name="options"/>: D + max(P, G) + 1.</summary>
    public static int ContextNeeded(BenchOptions options) => checked(options.Depth + Math.Max(options.PromptTokens, options.GenTokens) + 1);

    /// <summary>
    /// The same measurement on any runtime (ONNX Runtime through `bench --runtime ort`): <paramref name="model"/>
    /// holds at least <see cref="ContextNeeded"/> positions and was made with <see cref="BenchOptions.Threads"/>
    /// threads; it is reset before each phase. Executor state bytes are reported for our executor only (0 otherwise).
    /// </summary>
    public static BenchResult Run(ILogitModel model, BenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Check(options);
        if (model.MaxContext < ContextNeeded(options))
            throw new ArgumentException($"the model holds {model.MaxContext} positions; the benchmark needs {ContextNeeded(options)}", nameof(model));
        var ids = RandomPrompt(model.VocabSize, checked(options.Depth + options.PromptTokens), options.Seed);
        var depth = ids.AsSpan(0, options.Depth).ToArray();
        var prompt = ids.AsSpan(options.Depth).ToArray();
        model.Reset();
        var one = new int[1];

        // Warm-up: tiered JIT compiles hot loops unoptimized first and recompiles them in the background
        // after enough calls, so the first second of a run is not representative. Warm up both paths the
        // measurement takes (a batch and single tokens) for at least WarmUp, then measure.
        var warm = Stopwatch.StartNew();
        for (int round = 0; round < 2 || (warm.Elapsed < WarmUp && round < MaxWarmUpRounds); round++)
        {
            one[0] = Sampler.Greedy(model.ForwardLast(prompt.AsSpan(0, Math.Min(16, prompt.Length))));
            for (int i = 0; i < 4 && model.Position < model.MaxContext; i++) one[0] = Sampler.Greedy(model.ForwardLast(one));
            model.Reset();
        }

        using var process = Process.GetCurrentProcess();
        Fill(model, depth);
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        one[0] = Sampler.Greedy(model.ForwardLast(prompt));
        var prefill = sw.Elapsed;
        process.Refresh();
        var cpu1 = process.TotalProcessorTime;

        Fill(model, depth);
        process.Refresh();
        var cpu2 = process.TotalProcessorTime;
        sw.Restart();
        for (int i = 0; i < options.GenTokens; i++) one[0] = Sampler.Greedy(model.ForwardLast(one));
        var decode = sw.Elapsed;
        process.Refresh();
        var cpu3 = process.TotalProcessorTime;
        return new BenchResult(options.Threads, options.PromptTokens, options.GenTokens, options.Depth,
            options.PromptTokens / prefill.TotalSeconds,
            options.GenTokens == 0 ? 0 : options.GenTokens / decode.TotalSeconds,
            prefill, decode, process.PeakWorkingSet64, cpu1 - cpu0, cpu3 - cpu2, (model as Transformer)?.StateBytes ?? 0);
    }

    private static void Check(BenchOptions options)
    {
        if (options.PromptTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), options.PromptTokens, "at least one prompt token");
        if (options.GenTokens < 0) throw new ArgumentOutOfRangeException(nameof(options), options.GenTokens, "gen tokens must not be negative");
        if (options.Depth < 0) throw new ArgumentOutOfRangeException(nameof(options), options.Depth, "depth must not be negative");
    }

    /// <summary>An empty cache, then <paramref name="depth"/> ids prefilled (untimed): the state each phase starts from.</summary>
    private static void Fill(ILogitModel model, int[] depth)
    {
        model.Reset();
        if (depth.Length > 0) model.ForwardLast(depth);
    }

    /// <summary>Deterministic prompt ids above the LLaMA specials and byte pieces where the vocabulary allows.</summary>
    private static int[] RandomPrompt(int vocab, int count, ulong seed)
    {
        int lo = vocab > 259 + 1 ? 259 : 0;
        var rng = new SplitMix64(seed);
        var ids = new int[count];
        for (int i = 0; i < count; i++) ids[i] = lo + (int)(rng.NextUInt64() % (ulong)(vocab - lo));
        return ids;
    }
}
