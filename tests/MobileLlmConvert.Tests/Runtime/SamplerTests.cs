using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class SamplerTests
{
    private static float[] LogitsOf(params double[] probs) => probs.Select(p => (float)Math.Log(p)).ToArray();

    [Fact]
    public void Temperature_zero_is_greedy_and_ties_go_to_the_lowest_id()
    {
        var sampler = new Sampler(5, new SamplerOptions { Temperature = 0, Seed = 3 });
        Assert.Equal(3, sampler.Sample([0.1f, 2f, -1f, 2.5f, 2.5f]));
        Assert.Equal(1, Sampler.Greedy([0f, 7f, 7f, 7f]));
    }

    [Fact]
    public void Top_p_keeps_the_smallest_set_whose_probability_reaches_p()
    {
        float[] probs = [0.05f, 0.5f, 0.15f, 0.3f];
        var order = new ulong[4];
        // 0.5 alone < 0.8; 0.5 + 0.3 reaches it: two tokens, most likely first.
        Assert.Equal(2, Sampler.Nucleus(probs, 0.8f, order));
        Assert.Equal([1, 3], order.Take(2).Select(e => (int)(uint)e));
        Assert.Equal(1, Sampler.Nucleus(probs, 0.5f, order));
        Assert.Equal(3, Sampler.Nucleus(probs, 0.81f, order));
        Assert.Equal(4, Sampler.Nucleus(probs, 1f, order));
    }

    [Fact]
    public void Top_p_samples_only_inside_the_nucleus_in_proportion()
    {
        var logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        // p = 0.75 sits between 0.5 and 0.5 + 0.3, away from a boundary that float rounding of exp could tip.
        var sampler = new Sampler(4, new SamplerOptions { Temperature = 1, TopP = 0.75f, Seed = 42 });
        var counts = new int[4];
        for (int i = 0; i < 20000; i++) counts[sampler.Sample(logits)]++;
        Assert.Equal(0, counts[0]);
        Assert.Equal(0, counts[2]);
        // Renormalized nucleus: 0.5/0.8 = 0.625 and 0.3/0.8 = 0.375 (4 sigma of 20000 draws is 0.014).
        Assert.InRange(counts[1] / 20000.0, 0.611, 0.639);
    }

    [Fact]
    public void Temperature_one_samples_the_softmax_and_low_temperature_sharpens_it()
    {
        var logits = LogitsOf(0.2, 0.8);
        var warm = new Sampler(2, new SamplerOptions { Temperature = 1, Seed = 7 });
        var cold = new Sampler(2, new SamplerOptions { Temperature = 0.25f, Seed = 7 });
        int warmOnes = 0, coldOnes = 0;
        for (int i = 0; i < 20000; i++)
        {
            warmOnes += warm.Sample(logits);
            coldOnes += cold.Sample(logits);
        }
        Assert.InRange(warmOnes / 20000.0, 0.786, 0.814);
        // T = 0.25 raises probabilities to the 4th power: 0.8^4 / (0.8^4 + 0.2^4) = 0.9961.
        Assert.InRange(coldOnes / 20000.0, 0.993, 0.999);
    }

    [Fact]
    public void Same_seed_gives_the_same_tokens_and_another_seed_does_not()
    {
        var logits = Enumerable.Range(0, 50).Select(i => MathF.Sin(i) * 2).ToArray();
        int[] Draw(ulong seed)
        {
            var s = new Sampler(50, new SamplerOptions { Temperature = 1.2f, TopP = 0.9f, Seed = seed });
            return Enumerable.Range(0, 64).Select(_ => s.Sample(logits)).ToArray();
        }
        Assert.Equal(Draw(1), Draw(1));
        Assert.NotEqual(Draw(1), Draw(2));
    }

    [Fact]
    public void Bad_options_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(4, new SamplerOptions { TopP = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(4, new SamplerOptions { TopP = 1.5f }));
        var e = Assert.Throws<ArgumentException>(() => new Sampler(4).Sample(new float[3]));
        Assert.StartsWith("expected 4 logits, got 3", e.Message);
    }
}
