using System.Text.Json;
using MobileLlmConvert.Runtime.Evaluation;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Diff;

/// <summary>
/// `diff`'s figures against an independent computation: the `logits` verb's output for each window,
/// softmax in double written here (max-shifted exp, sum, log), KL, top-1, delta-p and perplexity from
/// those, to 1e-9 relative. Also: `verify` is `diff` with one window, with the same numbers.
/// </summary>
public sealed class DiffNumbersTests(ITestOutputHelper output)
{
    private const double Rel = 1e-9;
    private const int Context = 20;

    [Fact]
    public void DiffFiguresEqualAnIndependentSoftmaxOfTheLogitsVerb()
    {
        using var dir = new TempDir();
        string cand = DiffKit.Bundle(dir, "q4");
        var ids = DiffKit.Tokens;
        var r = CliRunner.Run("diff", DiffKit.Reference, cand, "--tokens", DiffKit.Ids(ids), "--context", Context.ToString(), "--json", "-t", "2");
        Assert.True(r.ExitCode == 0, r.ToString());
        var c = DiffKit.Json(r).GetProperty("candidates")[0];

        var kl = new List<double>();
        var logPRef = new List<double>();
        var logPCand = new List<double>();
        int agree = 0;
        for (int start = 0; start < ids.Length; start += Context)
        {
            var window = ids.Skip(start).Take(Context).ToArray();
            var refRows = Logits(DiffKit.Reference, window);
            var candRows = Logits(cand, window);
            for (int i = 0; i < window.Length; i++)
            {
                var lp = LogProbabilities(refRows[i]);
                var lq = LogProbabilities(candRows[i]);
                double k = 0;
                for (int v = 0; v < lp.Length; v++) k += Math.Exp(lp[v]) * (lp[v] - lq[v]);
                kl.Add(Math.Max(k, 0));
                if (IndexOfMax(refRows[i]) == IndexOfMax(candRows[i])) agree++;
                int p = start + i;
                if (p + 1 < ids.Length)
                {
                    logPRef.Add(lp[ids[p + 1]]);
                    logPCand.Add(lq[ids[p + 1]]);
                }
            }
        }
        var sorted = kl.Order().ToArray();
        double Pct(double q)
        {
            double h = (sorted.Length - 1) * q;
            int lo = (int)h;
            return lo + 1 < sorted.Length ? sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[^1];
        }
        var deltaP = logPRef.Zip(logPCand, (a, b) => Math.Exp(b) - Math.Exp(a)).ToArray();

        Assert.Equal(ids.Length, DiffKit.Json(r).GetProperty("tokens_scored").GetInt32());
        Close(kl.Average(), c.GetProperty("kl").GetProperty("mean").GetDouble(), "mean KL");
        Close(Pct(0.5), c.GetProperty("kl").GetProperty("p50").GetDouble(), "p50 KL");
        Close(Pct(0.9), c.GetProperty("kl").GetProperty("p90").GetDouble(), "p90 KL");
        Close(Pct(0.99), c.GetProperty("kl").GetProperty("p99").GetDouble(), "p99 KL");
        Close(sorted[^1], c.GetProperty("kl").GetProperty("max").GetDouble(), "max KL");
        Close((double)agree / ids.Length, c.GetProperty("top1_agreement").GetDouble(), "top-1");
        Close(Math.Exp(-logPRef.Average()), c.GetProperty("ppl").GetProperty("reference").GetDouble(), "PPL ref");
        Close(Math.Exp(-logPCand.Average()), c.GetProperty("ppl").GetProperty("candidate").GetDouble(), "PPL cand");
        Close(deltaP.Average(), c.GetProperty("delta_p").GetProperty("mean").GetDouble(), "delta-p mean");
        Close(Math.Sqrt(deltaP.Average(x => x * x)), c.GetProperty("delta_p").GetProperty("rms").GetDouble(), "delta-p rms");
        output.WriteLine($"q4 on {ids.Length} tokens in windows of {Context}: mean KL {kl.Average():E4}, top-1 {(double)agree / ids.Length:P1}");
    }

    [Fact]
    public void VerifyReportsTheSameNumbersAsDiffWithOneWindow()
    {
        using var dir = new TempDir();
        string cand = DiffKit.Bundle(dir, "q8", "--quant", "q8");
        var ids = DiffKit.Ids(DiffKit.Tokens);
        var v = DiffKit.Json(CliRunner.Run("verify", cand, "--reference", DiffKit.Reference, "--tokens", ids, "--json"));
        var d = DiffKit.Json(CliRunner.Run("diff", DiffKit.Reference, cand, "--tokens", ids, "--context", DiffKit.Tokens.Length.ToString(), "--json"))
            .GetProperty("candidates")[0];
        Assert.Equal("verify", v.GetProperty("verb").GetString());
        foreach (var (obj, field) in new[] { ("kl", "mean"), ("kl", "max"), ("kl", "p99"), ("ppl", "candidate"), ("delta_p", "rms") })
            Assert.Equal(d.GetProperty(obj).GetProperty(field).GetDouble(), v.GetProperty(obj).GetProperty(field).GetDouble());
        Assert.Equal(d.GetProperty("top1_agreement").GetDouble(), v.GetProperty("top1_agreement").GetDouble());
        Assert.Equal(v.GetProperty("kl").GetProperty("max").GetDouble(), v.GetProperty("max_kl").GetDouble());
    }

    /// <summary>Percentiles and the interval on values small enough to check by hand.</summary>
    [Fact]
    public void PercentilesInterpolateBetweenRanksAndTheIntervalIsNormal()
    {
        var s = KlSummary.Stats([4.0, 1.0, 3.0, 2.0, 5.0]);
        Assert.Equal(new KlStats(3.0, 3.0, 4.6, 4.96, 4.996, 5.0), s with { P90 = Math.Round(s.P90, 12), P99 = Math.Round(s.P99, 12), P999 = Math.Round(s.P999, 12) });
        var (low, high) = KlSummary.MeanCi95([1.0, 2.0, 3.0, 4.0, 5.0]);
        double half = 1.959963984540054 * Math.Sqrt(2.5 / 5);
        Assert.Equal(3 - half, low, 12);
        Assert.Equal(3 + half, high, 12);
    }

    private static void Close(double expected, double actual, string what)
    {
        double scale = Math.Max(Math.Abs(expected), 1e-300);
        Assert.True(Math.Abs(actual - expected) <= Rel * scale, $"{what}: diff says {actual:R}, independent {expected:R}");
    }

    private static float[][] Logits(string model, int[] ids)
    {
        var r = CliRunner.Run("logits", model, "--tokens", DiffKit.Ids(ids), "-t", "2", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.GetProperty("logits").EnumerateArray().Select(row => row.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
    }

    /// <summary>log softmax in double: x − (m + log Σ exp(x − m)), m the row maximum.</summary>
    private static double[] LogProbabilities(float[] row)
    {
        double m = row.Max();
        double z = row.Sum(x => Math.Exp(x - m));
        double log = m + Math.Log(z);
        return row.Select(x => x - log).ToArray();
    }

    private static int IndexOfMax(float[] row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
