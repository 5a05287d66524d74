using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class AllocationTests
{
    [Theory]
    [InlineData(ElementType.BF16, QuantPath.Fast)]
    [InlineData(ElementType.Q4_0, QuantPath.Fast)]
    [InlineData(ElementType.Q8_0, QuantPath.Exact)]
    public void The_token_loop_does_not_allocate(ElementType type, QuantPath path)
    {
        var ir0 = TestModels.Create("mobilellm-ls", type == ElementType.BF16 ? ElementType.BF16 : ElementType.F32);
        using var ir = type == ElementType.BF16 ? ir0 : TestModels.Quantize(ir0, type);
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = 64, QuantPath = path });
        var sampler = new Sampler(ir.Config.VocabSize, new SamplerOptions { Temperature = 0.8f, TopP = 0.9f, Seed = 1 });
        int[] prompt = [1, 5, 9, 13, 17, 21];
        int[] one = [sampler.Sample(model.ForwardLast(prompt))];
        one[0] = sampler.Sample(model.ForwardLast(one)); // first call of each path done: JIT and statics settled

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) one[0] = sampler.Sample(model.ForwardLast(one));
        model.Reset();
        one[0] = sampler.Sample(model.ForwardLast(prompt));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }
}
