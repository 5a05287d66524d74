using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.EndToEnd;

/// <summary>The committed fixtures and the executor, as the end-to-end tests use them.</summary>
internal static class Models
{
    /// <summary>Every family's fixture: GQA Llama, tied Llama, MobileLLM, MobileLLM-LS, MobiLlama (shared and per-layer FFNs), sharded Llama.</summary>
    public static readonly string[] Families = ["llama-tiny", "llama-tiny-tied", "mobilellm-tiny", "mobilellm-ls-tiny", "mobillama-tiny", "mobillama-unshared", "llama-sharded"];

    public static TheoryData<string> FamilyData()
    {
        var data = new TheoryData<string>();
        foreach (var f in Families) data.Add(f);
        return data;
    }

    /// <summary>
    /// Ids spread over the vocabulary: BOS, byte pieces, merges and filler pieces, so every region of
    /// the embedding and head is exercised, and long enough that attention sees several positions.
    /// </summary>
    public static readonly int[] Tokens = [1, 17, 40, 263, 300, 5, 99, 260, 311, 42];

    public static string Path(string fixture) => FixtureCatalog.Get(fixture).CommittedPath;

    /// <summary>Our executor's logits for the tokens, [positions, vocab] row-major.</summary>
    public static (float[] Logits, int Vocab) Logits(string modelPath, int[] tokens, QuantPath path = QuantPath.Exact)
    {
        using var ir = ModelOpener.Open(modelPath);
        using var t = new Transformer(ir, new ExecutorOptions { Threads = 1, QuantPath = path, MaxContext = tokens.Length });
        return (t.Forward(tokens), ir.Config.VocabSize);
    }

    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    public static double MaxAbs(ReadOnlySpan<float> a)
    {
        double m = 0;
        foreach (var x in a) m = Math.Max(m, Math.Abs(x));
        return m;
    }
}
