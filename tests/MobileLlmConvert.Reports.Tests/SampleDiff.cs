using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert.Reports.Tests;

/// <summary>
/// A plausible diff of a layer-shared model (15 stored blocks run twice each, 30 steps) against a q8
/// and a q4 copy, made from a fixed seed. The numbers are invented but shaped like real ones (KL
/// log-normal over positions, error growing with depth, one block worse than the rest); the `diff`
/// engine's own tests check real numbers, these check the page.
/// </summary>
internal static class SampleDiff
{
    public const int Blocks = 15, Steps = 30, Tokens = 4096;

    // Written for this sample (no outside text): contexts are windows of it.
    private static readonly string[] Words = ("The ferry left the harbour an hour late, and by the time it reached the island the light " +
        "had gone grey over the water. She counted the houses along the shore, found the one with the green door, " +
        "and stood a while on the steps before she knocked, wondering what he would say after so many years.").Split(' ');

    public static DiffResult Make(int seed = 7, string? worstContext = null)
    {
        var random = new Random(seed);
        var candidates = new List<CandidateDiff>
        {
            Candidate(random, "out/mobilellm-125m-ls.q8_0.gguf", "q8_0", klScale: 2e-4, damagedBlock: null, worstContext, passed: true),
            Candidate(random, "out/mobilellm-125m-ls.q4_0.gguf", "q4_0", klScale: 2.5e-2, damagedBlock: 6, worstContext, passed: false),
        };
        return new DiffResult("models/MobileLLM-125M-LS", "testdata/text/default.txt (Project Gutenberg)", Tokens, 512, candidates);
    }

    private static CandidateDiff Candidate(Random random, string model, string type, double klScale, int? damagedBlock, string? worstContext, bool passed)
    {
        var kl = new double[Tokens];
        for (int i = 0; i < kl.Length; i++)
        {
            kl[i] = i % 211 == 0 ? 0 : klScale * Math.Exp(1.6 * Normal(random));
        }
        var sorted = kl.Order().ToArray();
        double Q(double p) => sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(p * sorted.Length))];
        double mean = kl.Average();
        double sd = Math.Sqrt(kl.Select(x => (x - mean) * (x - mean)).Sum() / (kl.Length - 1));
        double half = 1.96 * sd / Math.Sqrt(kl.Length);

        var layers = new List<LayerError>();
        double rel = klScale > 1e-3 ? 0.04 : 0.004;
        for (int step = 0; step < Steps; step++)
        {
            int block = step / 2;
            rel *= block == damagedBlock && step % 2 == 0 ? 2.5 : 1.04 + 0.02 * random.NextDouble();
            layers.Add(new LayerError(step, block, rel, 1 - rel * rel / 2));
        }

        var tensors = new List<TensorDelta>();
        string[] roles = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];
        for (int b = 0; b < Blocks; b++)
        {
            foreach (string role in roles)
            {
                double d = klScale * 0.08 * Math.Exp(0.4 * Normal(random)) * (b == damagedBlock ? 6 : 1) * (role == "ffn_down" ? 2 : 1);
                tensors.Add(new TensorDelta($"blk.{b}.{role}.weight", "f32", type, [2 * b, 2 * b + 1], d));
            }
        }
        tensors.Add(new TensorDelta("token_embd.weight", "f32", type, [], klScale * 0.3));
        tensors.Sort((a, b) => b.DeltaKl.CompareTo(a.DeltaKl));

        var worst = Enumerable.Range(0, Tokens).OrderByDescending(i => kl[i]).ThenBy(i => i).Take(10)
            .Select((i, k) => new WorstPosition(i, kl[i], k == 0 && worstContext is not null ? worstContext : Context(i), " " + Words[(i * 7 + 12) % Words.Length], " " + Words[(i * 5 + 3) % Words.Length]))
            .ToList();

        return new CandidateDiff(model, new KlStats(mean, Q(0.5), Q(0.9), Q(0.99), Q(0.999), sorted[^1]),
            Top1Agreement: 1 - Math.Min(0.5, klScale * 6), new DeltaP(-klScale * 0.4, klScale * 3), new Perplexity(11.873, 11.873 * Math.Exp(mean * 0.9)),
            mean - half, mean + half, kl, worst, FirstGreedyDivergence: klScale > 1e-3 ? 17 : null, layers, tensors, passed);
    }

    private static string Context(int position) =>
        string.Join(' ', Enumerable.Range(0, 12).Select(k => Words[(position * 7 + k) % Words.Length]));

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
