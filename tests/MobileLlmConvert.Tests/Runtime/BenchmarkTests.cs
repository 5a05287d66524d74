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
        Assert.Equal((2, 20, 6), (r.Threads, r.PromptTokens, r.GenTokens));
        Assert.True(r.PrefillTokensPerSecond > 0 && double.IsFinite(r.PrefillTokensPerSecond));
        Assert.True(r.DecodeTokensPerSecond > 0 && double.IsFinite(r.DecodeTokensPerSecond));
        Assert.Equal(20 / r.PrefillTime.TotalSeconds, r.PrefillTokensPerSecond, 6);
        Assert.True(r.PeakWorkingSetBytes > 0);
    }

    [Fact]
    public void Bench_rejects_an_empty_prompt()
    {
        using var ir = TestModels.Create("llama-gqa");
        Assert.Throws<ArgumentOutOfRangeException>(() => Benchmark.Run(ir, new BenchOptions { PromptTokens = 0 }));
    }
}
