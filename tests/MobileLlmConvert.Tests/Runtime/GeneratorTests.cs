using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class GeneratorTests
{
    [Fact]
    public void Greedy_generation_is_deterministic_and_follows_the_arg_max_of_each_step()
    {
        using var ir = TestModels.Create("mobilellm-ls", ElementType.BF16);
        int[] prompt = [1, 40, 77, 5];
        List<int> Run(int threads)
        {
            using var model = new Transformer(ir, new ExecutorOptions { Threads = threads, MaxContext = 64 });
            return new Generator(model, new Sampler(ir.Config.VocabSize)).Generate(prompt, 12, stopToken: null).ToList();
        }
        var first = Run(2);
        Assert.Equal(12, first.Count);
        Assert.Equal(first, Run(2));
        Assert.Equal(first, Run(1));

        // Each token is the arg-max of the naive forward over prompt + tokens so far.
        var naive = new NaiveTransformer(ir, 64);
        float[] logits = [];
        foreach (var t in prompt) logits = naive.Forward(t);
        foreach (var t in first)
        {
            Assert.Equal(Sampler.Greedy(logits), t);
            logits = naive.Forward(t);
        }
    }

    [Fact]
    public void Generation_stops_before_the_stop_token_and_at_the_end_of_the_context()
    {
        using var ir = TestModels.Create("llama-gqa");
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = 10 });
        var generator = new Generator(model, new Sampler(ir.Config.VocabSize));
        var all = generator.Generate([1, 2, 3], 5, stopToken: null).ToList();
        Assert.Equal(5, all.Count);

        model.Reset();
        var stopped = generator.Generate([1, 2, 3], 5, stopToken: all[2]).ToList();
        Assert.Equal(all.Take(all.IndexOf(all[2])), stopped);

        // 3 prompt tokens + 7 fed back fill the 10 positions; the 8th token is sampled from the last logits.
        model.Reset();
        var full = generator.Generate([1, 2, 3], 100, stopToken: null).ToList();
        Assert.Equal(8, full.Count);
        Assert.Equal(10, model.Position);
    }
}
