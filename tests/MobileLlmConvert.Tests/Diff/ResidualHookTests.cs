using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert.Tests.Diff;

/// <summary>The executor hook `diff` relies on: observing changes nothing, and resuming from an observed residual gives the same logits.</summary>
public sealed class ResidualHookTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(12)]
    public void ResumingFromAnObservedResidualGivesTheSameLogits(int step)
    {
        using var ir = ModelOpener.Open(DiffKit.Reference);
        var ids = DiffKit.Tokens;
        // MaxBatch 16 < 48 tokens: the observer sees three chunks per step and must place them by position.
        var options = new ExecutorOptions { Threads = 2, MaxContext = ids.Length, MaxBatch = 16 };
        float[] plain;
        using (var t = new Transformer(ir, options)) plain = t.Forward(ids);
        var capture = new ResidualCapture(ir.Steps.Count, ids.Length, ir.Config.HiddenSize);
        using var observed = new Transformer(ir, options) { Observer = capture };
        Assert.Equal(plain, observed.Forward(ids));

        using var resumed = new Transformer(ir, options);
        var logits = new float[plain.Length];
        resumed.ForwardFrom(step, capture.Levels[step], logits);
        Assert.Equal(plain, logits);
        Assert.Equal(ids.Length, resumed.Position);
    }

    [Fact]
    public void ResumingPastTheLastStepIsRefused()
    {
        using var ir = ModelOpener.Open(DiffKit.Reference);
        using var t = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = 4 });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.ForwardFrom(ir.Steps.Count + 1, new float[ir.Config.HiddenSize], new float[ir.Config.VocabSize]));
        Assert.Contains("not in [0, 12]", e.Message);
    }
}
