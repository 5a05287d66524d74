using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

/// <summary>The bench API's plumbing on a tiny model; speed itself is never asserted (DESIGN.md).</summary>
public class BenchmarkTests
{
    [Fact]
    public void Bench_reports_the_requested_run_and_positive_figures()
    {
        using var ir = TestModels.Quantize(TestModels.Create("llama-gqa"), ElementType.Q4_0);
        var r = Benchmark.Run(ir, new BenchOptions { Threads = 2, PromptTokens = 20, GenTokens = 6 });
        Assert.Equal((2, 20, 6, 0), (r.Threads, r.PromptTokens, r.GenTokens, r.Depth));
        Assert.True(r.PrefillTokensPerSecond > 0 && double.IsFinite(r.PrefillTokensPerSecond));
        Assert.True(r.DecodeTokensPerSecond > 0 && double.IsFinite(r.DecodeTokensPerSecond));
        Assert.Equal(20 / r.PrefillTime.TotalSeconds, r.PrefillTokensPerSecond, 6);
        Assert.True(r.PeakWorkingSetBytes > 0);
    }

    [Fact]
    public void Bench_at_a_depth_fits_depth_plus_the_longer_phase_in_the_cache()
    {
        // llama-bench's -d: both phases start after D cached positions, so the cache holds D + max(P, G),
        // not D + P + G. The executor's state grows with the cache, which is how the depth is observable.
        using var ir = TestModels.Create("llama-gqa");
        var deep = Benchmark.Run(ir, new BenchOptions { Threads = 1, PromptTokens = 8, GenTokens = 4, Depth = 24 });
        Assert.Equal(24, deep.Depth);
        using var sized = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = 24 + 8 + 1 });
        Assert.Equal(sized.StateBytes, deep.ExecutorStateBytes);
        Assert.Throws<ArgumentOutOfRangeException>(() => Benchmark.Run(ir, new BenchOptions { Depth = -1 }));
    }

    [Fact]
    public void Bench_rejects_an_empty_prompt()
    {
        using var ir = TestModels.Create("llama-gqa");
        Assert.Throws<ArgumentOutOfRangeException>(() => Benchmark.Run(ir, new BenchOptions { PromptTokens = 0 }));
    }
}
