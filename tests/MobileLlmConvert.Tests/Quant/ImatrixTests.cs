using System.Buffers.Binary;
using System.Text;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Formats.Imatrix;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.TestSupport;
using MobileLlmConvert.Tests.Trained;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Quant;

// Inside the namespace so it wins over the library facade MobileLlmConvert.Models.
using Models = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>llama.cpp importance-matrix files: both layouts, name mapping onto shared tensors, and hostile files.</summary>
public class ImatrixTests(ITestOutputHelper output)
{
    /// <summary>A legacy .dat as imatrix.cpp's save_imatrix_legacy writes it: entries of (name, ncall, values), then chunk count and dataset.</summary>
    private static byte[] LegacyDat(IEnumerable<(string Name, int Ncall, float[] Values)> entries, bool trailer = true)
    {
        var list = entries.ToList();
        using var ms = new MemoryStream();
        var word = new byte[4];
        void I32(int v) { BinaryPrimitives.WriteInt32LittleEndian(word, v); ms.Write(word); }
        I32(list.Count);
        foreach (var (name, ncall, values) in list)
        {
            var n = Encoding.UTF8.GetBytes(name);
            I32(n.Length);
            ms.Write(n);
            I32(ncall);
            I32(values.Length);
            foreach (var v in values) { BinaryPrimitives.WriteSingleLittleEndian(word, v); ms.Write(word); }
        }
        if (trailer)
        {
            I32(3);
            var d = Encoding.UTF8.GetBytes("calibration.txt");
            I32(d.Length);
            ms.Write(d);
        }
        return ms.ToArray();
    }

    private static float[] Ramp(int n, float scale) => [.. Enumerable.Range(0, n).Select(i => scale * (i + 1))];

    private static string Fixture(string ext) => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "quant", "trained-c.imatrix." + ext);

    [Fact]
    public void Llama_imatrix_gguf_and_dat_files_of_one_run_give_the_same_importance()
    {
        // Both written by llama-imatrix from one run (testdata/quant/make_imatrix.sh). The .dat stores
        // (Σx²/rows)·ncall in f32 and we divide by ncall again: equal to f32 rounding.
        using var ir = MobileLlmConvert.Models.Open(TrainedFixture.Dir);
        var gguf = ImatrixFile.Read(Fixture("gguf"), ir);
        var dat = ImatrixFile.Read(Fixture("dat"), ir);
        // 12 executed steps of 6 stored blocks x 7 matrices; the tied head is not collected by llama-imatrix.
        Assert.Equal(42, gguf.Keys.Count);
        Assert.Equal(gguf.Keys, dat.Keys);
        Assert.DoesNotContain(ir.Output, gguf.Keys);
        foreach (var key in gguf.Keys)
        {
            var a = gguf.For(key)!;
            var b = dat.For(key)!;
            Assert.Equal(a.Length, b.Length);
            for (int j = 0; j < a.Length; j++) Assert.True(Math.Abs(a[j] - b[j]) <= 1e-6f * a[j], $"{key}[{j}]: {a[j]} vs {b[j]}");
        }
    }

    [Fact]
    public void Our_calibration_of_the_same_text_is_close_to_llama_imatrix()
    {
        // Same token ids, same chunks as llama-imatrix -c 256: whole 256-token chunks, each starting with
        // BOS (imatrix.cpp compute_imatrix); make_imatrix.sh gives llama.cpp the text with whitespace
        // collapsed so its tokenizer yields our 7,036 ids. What still differs: llama.cpp keeps the KV
        // cache in f16 and sums in f32 in another order. Measured worst tensor 1.4e-4 (relative L2 over
        // its columns, blk 4's ffn_down; totals equal to 1e-4). Bound 1e-3: a name mapped to the wrong
        // step or matrix, a shared block counted once, or another token stream is off by 10 % or more
        // (llama.cpp on the raw text, 8,960 tokens, was 0.09 to 0.34).
        using var ir = MobileLlmConvert.Models.Open(TrainedFixture.Dir);
        var theirs = ImatrixFile.Read(Fixture("gguf"), ir);
        var text = File.ReadAllText(Path.Combine(FixtureCatalog.RepoRoot, "testdata", "text", "devils-dictionary-c.txt"));
        var ids = new TextTokenizer(ir.Tokenizer!).Encode(text).ToArray();
        const int context = 256;
        int chunks = ids.Length / context;
        var stream = ids[..(chunks * context)];
        for (int c = 0; c < chunks; c++) stream[c * context] = ir.Tokenizer!.BosId;
        var ours = Calibration.Collect(ir, stream, context, new ExecutorOptions { Threads = 2 }, "test");
        double worst = 0;
        string worstKey = "";
        var all = new List<string>();
        foreach (var key in theirs.Keys)
        {
            var a = ours.For(key)!;
            var b = theirs.For(key)!;
            double diff = 0, norm = 0;
            for (int j = 0; j < a.Length; j++)
            {
                diff += Math.Pow(a[j] - b[j], 2);
                norm += Math.Pow(b[j], 2);
            }
            double rel = Math.Sqrt(diff / norm);
            all.Add($"{key} {rel:E2} ratio {a.Sum() / b.Sum():F4}");
            if (rel > worst) (worst, worstKey) = (rel, key);
        }
        foreach (var line in all) output.WriteLine(line);
        Assert.True(worst < 1e-3, $"{worstKey}: relative L2 difference {worst:E2}");
    }

    [Fact]
    public void Legacy_entries_of_two_steps_sharing_a_block_add_onto_the_stored_tensor()
    {
        using var dir = new TempDir();
        using var ir = ModelOpener.Open(Models.Path("mobilellm-ls-tiny"));
        Assert.Equal(ir.Steps[0].Q, ir.Steps[1].Q);
        // (Σx²/rows)·ncall per entry: step 0 has mean 1·(i+1), step 1 mean 3·(i+1), both over ncall 2.
        File.WriteAllBytes(dir["m.dat"], LegacyDat([("blk.0.attn_q.weight", 2, Ramp(32, 2)), ("blk.1.attn_q.weight", 2, Ramp(32, 6)), ("blk.2.ffn_down.weight", 4, Ramp(64, 4))]));
        var map = ImatrixFile.Read(dir["m.dat"], ir);
        Assert.Equal([ir.Steps[0].Q, ir.Steps[2].Down], map.Keys.Order(StringComparer.Ordinal));
        // Added as sums over ncall rows each: (2 + 6)(i + 1) / (2 + 2) = 2(i + 1), the mean of both steps.
        Assert.Equal(Ramp(32, 2), map.For(ir.Steps[0].Q));
        Assert.Equal(Ramp(64, 1), map.For(ir.Steps[2].Down));
        Assert.Null(map.For(ir.Steps[0].K));
        Assert.Equal("imatrix m.dat", map.Source);
    }

    public static TheoryData<string, Func<byte[]>, string> HostileFiles() => new()
    {
        { "truncated", () => LegacyDat([("blk.0.attn_q.weight", 1, Ramp(32, 1))])[..60], "blk.0.attn_q.weight nval = 32: 25 bytes are left for 32 floats" },
        { "huge value count", () => { var b = LegacyDat([("blk.0.attn_q.weight", 1, Ramp(32, 1))]); BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4 + 4 + 19 + 4), int.MaxValue); return b; },
            "blk.0.attn_q.weight nval = 2147483647: " },
        { "huge entry count", () => { var b = LegacyDat([("blk.0.attn_q.weight", 1, Ramp(32, 1))]); BinaryPrimitives.WriteInt32LittleEndian(b, 1 << 30); return b; },
            "n_entries = 1073741824: must be 1 to 65536" },
        { "unknown name", () => LegacyDat([("blk.0.attn_qq.weight", 1, Ramp(32, 1))]), "entry = blk.0.attn_qq.weight: not a GGUF tensor name of the llama architecture" },
        { "step past the model", () => LegacyDat([("blk.9.attn_q.weight", 1, Ramp(32, 1))]), "entry = blk.9.attn_q.weight: the model has 4 layer steps" },
        { "a norm is not a matrix", () => LegacyDat([("blk.0.attn_norm.weight", 1, Ramp(32, 1))]), "entry = blk.0.attn_norm.weight: not a matrix the model multiplies" },
        { "another model's width", () => LegacyDat([("blk.0.attn_q.weight", 1, Ramp(48, 1))]), "blk.0.attn_q.weight values = 48: model.layers.0.self_attn.q_proj.weight has 32 input columns: the imatrix is of another model" },
        { "negative square", () => LegacyDat([("blk.0.attn_q.weight", 1, [.. Ramp(31, 1), -1f])]), "blk.0.attn_q.weight[31] = -1: a sum of squares is finite and non-negative" },
        { "zero calls", () => LegacyDat([("blk.0.attn_q.weight", 0, Ramp(32, 1))]), "blk.0.attn_q.weight ncall = 0: the call count is at least 1" },
        { "trailing bytes", () => [.. LegacyDat([("blk.0.attn_q.weight", 1, Ramp(32, 1))]), 0, 1], "trailer = 2: bytes after the dataset name" },
    };

    [Theory]
    [MemberData(nameof(HostileFiles))]
    public void A_hostile_imatrix_is_one_line_exit_2_and_nothing_written(string what, Func<byte[]> bytes, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["bad.dat"], bytes());
        var r = CliRunner.Run("convert", Models.Path("mobilellm-ls-tiny"), "-o", dir["m.gguf"], "--to", "gguf", "--quant", "q4_0", "--imatrix", dir["bad.dat"]);
        Assert.True(r.ExitCode == 2, $"{what}: {r}");
        Assert.StartsWith($"mlconvert: error: {dir["bad.dat"]}: {expected}", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.False(File.Exists(dir["m.gguf"]), what);
    }

    [Fact]
    public void A_model_gguf_is_not_an_importance_matrix()
    {
        using var dir = new TempDir();
        var w = CliRunner.Run("convert", Models.Path("mobilellm-ls-tiny"), "-o", dir["model.gguf"], "--to", "gguf");
        Assert.True(w.ExitCode == 0, w.ToString());
        var r = CliRunner.Run("convert", Models.Path("mobilellm-ls-tiny"), "-o", dir["m.gguf"], "--to", "gguf", "--quant", "q4_0", "--imatrix", dir["model.gguf"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"mlconvert: error: {dir["model.gguf"]}: general.type = (absent): a GGUF imatrix file has general.type = imatrix (a model GGUF is not an importance matrix)\n", r.Stderr);
    }
}
