using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Quant;

/// <summary>
/// The new block types against ggml's own quantizers, and the scale search against round to nearest.
/// testdata/quant/ggml-vectors.txt was printed by ggml_vectors.c, compiled against the ggml sources that
/// node-llama-cpp bundles (make_ggml_vectors.sh): four 512-value rows (a ramp, uniform values, small
/// values with outliers, a zero super-block) and ggml's quantize_row_{q5_0,q5_1,q4_K,q6_K}_ref of each;
/// then one row of quant weights per row ("w") and ggml's importance-weighted quantize_{type} of each ("TYPE_w").
/// </summary>
public class QuantGgmlVectorTests
{
    private static readonly string VectorFile = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "quant", "ggml-vectors.txt");

    private static (Dictionary<int, float[]> Rows, List<(string Type, int Row, byte[] Bytes)> Blocks) Load()
    {
        var rows = new Dictionary<int, float[]>();
        var blocks = new List<(string, int, byte[])>();
        foreach (var line in File.ReadAllLines(VectorFile))
        {
            var parts = line.Split(' ');
            var bytes = Convert.FromHexString(parts[2]);
            if (parts[0] == "x")
            {
                var x = new float[bytes.Length / 4];
                for (int i = 0; i < x.Length; i++) x[i] = BitConverter.ToSingle(bytes, 4 * i);
                rows[int.Parse(parts[1])] = x;
            }
            else blocks.Add((parts[0], int.Parse(parts[1]), bytes));
        }
        return (rows, blocks);
    }

    [Theory]
    [InlineData("q5_0")]
    [InlineData("q5_1")]
    [InlineData("q4_k")]
    [InlineData("q6_k")]
    public void Round_to_nearest_writes_ggml_reference_bytes(string name)
    {
        Assert.True(ElementTypes.TryParse(name, out var type));
        var (rows, blocks) = Load();
        var mine = blocks.Where(b => b.Type == name).ToList();
        Assert.Equal(4, mine.Count);
        foreach (var (_, row, expected) in mine)
        {
            var actual = new byte[expected.Length];
            QuantOps.Quantize(type, rows[row], actual, QuantRounding.Rtn);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} row {row}: first difference at byte {expected.AsSpan().CommonPrefixLength(actual)}");
            // The K-quants' reference quantizer is itself ggml's search: both roundings write its bytes.
            if (type.Info().Kind is QuantKind.K4 or QuantKind.K6)
            {
                QuantOps.Quantize(type, rows[row], actual, QuantRounding.Search);
                Assert.Equal(expected, actual);
            }
        }
    }

    [Theory]
    [InlineData("q5_0")]
    [InlineData("q5_1")]
    [InlineData("q4_k")]
    [InlineData("q6_k")]
    public void Ggml_bytes_dequantize_to_the_ramp(string name)
    {
        // Row 0 is the ramp (i − 256)·0.01 over [−2.56, 2.55]: every value comes back within half a step
        // of its (sub-)block: Q5_0 |d| = 2.56/16 → 0.08; Q5_1 d = 0.31/31 → 0.005; the K-quants' sub-block
        // scales are themselves quantized (6 or 8 bits), so about twice their step; Q4_K's mins are only
        // ever subtracted (make_qkx2_quants clamps min to ≤ 0), so the all-positive last sub-block spans
        // 0..2.55 in 15 steps: 0.085 plus the 6-bit scale's rounding. A misread layout
        // (a nibble, a fifth bit or a sub-block scale taken from the wrong place) moves values by 0.3 or more.
        Assert.True(ElementTypes.TryParse(name, out var type));
        var (rows, blocks) = Load();
        var bytes = blocks.Single(b => b.Type == name && b.Row == 0).Bytes;
        var back = new float[512];
        QuantOps.Dequantize(type, bytes, back);
        double tolerance = name switch { "q5_0" => 0.081, "q5_1" => 0.0055, "q6_k" => 0.05, _ => 0.09 };
        for (int i = 0; i < 512; i++) Assert.True(Math.Abs(back[i] - rows[0][i]) <= tolerance, $"{name} value {i}: {rows[0][i]} came back as {back[i]}");
    }

    [Theory]
    [InlineData("q4_0")]
    [InlineData("q4_1")]
    [InlineData("q5_0")]
    [InlineData("q5_1")]
    [InlineData("q4_k")]
    [InlineData("q6_k")]
    [InlineData("q8_0")]
    public void Importance_weighted_search_writes_llama_quantize_imatrix_bytes(string name)
    {
        // quantize_<type>(x, dst, 1, 512, w) is what llama-quantize --imatrix runs per row (q8_0 ignores w).
        Assert.True(ElementTypes.TryParse(name, out var type));
        var (rows, blocks) = Load();
        var weights = blocks.Where(b => b.Type == "w").ToDictionary(b => b.Row, b => Floats(b.Bytes));
        var mine = blocks.Where(b => b.Type == name + "_w").ToList();
        Assert.Equal(4, mine.Count);
        foreach (var (_, row, expected) in mine)
        {
            var actual = new byte[expected.Length];
            QuantOps.Quantize(type, rows[row], actual, QuantRounding.Search, weights[row]);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} row {row}: first difference at byte {expected.AsSpan().CommonPrefixLength(actual)}");
        }
    }

    [Fact]
    public void Importance_changes_the_bytes_and_lowers_the_weighted_error()
    {
        // Not a constant: different weights give different blocks, and the weighted error (the quantity
        // the search minimises, Σ w·(x − x')²) is lower than round to nearest's on every row.
        var (rows, blocks) = Load();
        var w = Floats(blocks.Single(b => b.Type == "w" && b.Row == 1).Bytes);
        var x = rows[1];
        foreach (var type in new[] { ElementType.Q4_0, ElementType.Q4_G64, ElementType.Q4_1_G128, ElementType.Q5_1, ElementType.Q4_K })
        {
            var rtn = new byte[type.ByteSize([x.Length])!.Value];
            var weighted = new byte[rtn.Length];
            QuantOps.Quantize(type, x, rtn, QuantRounding.Rtn);
            QuantOps.Quantize(type, x, weighted, QuantRounding.Search, w);
            Assert.False(rtn.AsSpan().SequenceEqual(weighted), type.Info().Name);
            Assert.True(WeightedError(type, x, weighted, w) < WeightedError(type, x, rtn, w), type.Info().Name);
            // Rtn ignores the importance: llama-quantize's bytes without an imatrix.
            var rtnWithImportance = new byte[rtn.Length];
            QuantOps.Quantize(type, x, rtnWithImportance, QuantRounding.Rtn, w);
            Assert.Equal(rtn, rtnWithImportance);
        }
    }

    private static double WeightedError(ElementType type, float[] x, byte[] bytes, float[] w)
    {
        var back = new float[x.Length];
        QuantOps.Dequantize(type, bytes, back);
        double e = 0;
        for (int i = 0; i < x.Length; i++) e += w[i] * Math.Pow((double)back[i] - x[i], 2);
        return e;
    }

    private static float[] Floats(byte[] bytes)
    {
        var x = new float[bytes.Length / 4];
        for (int i = 0; i < x.Length; i++) x[i] = BitConverter.ToSingle(bytes, 4 * i);
        return x;
    }

    public static TheoryData<ElementType> SearchTypes()
    {
        var data = new TheoryData<ElementType>();
        foreach (var row in ElementTypes.All)
        {
            if (row.Kind is QuantKind.Int4Symmetric or QuantKind.Int4Asymmetric or QuantKind.Int5Symmetric or QuantKind.Int5Asymmetric) data.Add(row.Type);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SearchTypes))]
    public void Search_is_never_worse_than_round_to_nearest_per_block_and_better_overall(ElementType type)
    {
        int g = type.Info().BlockValues;
        var x = QuantKernelTests.Gaussian(g * 400, 2024, 0.05f);
        x[17] = 0.9f; // an outlier block
        var rtn = Errors(type, x, QuantRounding.Rtn);
        var search = Errors(type, x, QuantRounding.Search);
        for (int b = 0; b < rtn.Length; b++) Assert.True(search[b] <= rtn[b], $"{type.Info().Name} block {b}: search {search[b]} > rtn {rtn[b]}");
        // On Gaussian weights the search cuts the squared error clearly (measured ~15-30%).
        Assert.True(search.Sum() < 0.9 * rtn.Sum(), $"{type.Info().Name}: search {search.Sum()} vs rtn {rtn.Sum()}");
    }

    [Fact]
    public void K_quants_beat_the_group_types_of_their_width()
    {
        // The claim users pick them for: Q4_K (4.5 bits) is closer than Q4_0 (4.5 bits), Q6_K (6.56) closer than Q5_1 (6).
        var x = QuantKernelTests.Gaussian(256 * 100, 99, 0.03f);
        double Sse(ElementType t) => Errors(t, x, QuantRounding.Rtn).Sum();
        Assert.True(Sse(ElementType.Q4_K) < Sse(ElementType.Q4_0));
        Assert.True(Sse(ElementType.Q6_K) < Sse(ElementType.Q5_1));
        Assert.True(Sse(ElementType.Q5_1) < Sse(ElementType.Q4_K));
    }

    private static double[] Errors(ElementType type, float[] x, QuantRounding rounding)
    {
        var info = type.Info();
        var bytes = new byte[type.ByteSize([x.Length])!.Value];
        QuantOps.Quantize(type, x, bytes, rounding);
        var back = new float[x.Length];
        QuantOps.Dequantize(type, bytes, back);
        var errors = new double[x.Length / info.BlockValues];
        for (int i = 0; i < x.Length; i++) errors[i / info.BlockValues] += Math.Pow((double)back[i] - x[i], 2);
        return errors;
    }
}
