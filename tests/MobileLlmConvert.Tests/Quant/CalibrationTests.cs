using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.TestSupport;

namespace MobileLlmConvert.Tests.Quant;

// Inside the namespace so it wins over the library facade MobileLlmConvert.Models.
using Models = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>Importance from a calibration text: what the executor hook sees, how shared tensors add up, and `--calibration` end to end.</summary>
public class CalibrationTests
{
    private static readonly string CalibrationText = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "text", "devils-dictionary-c.txt");
    private static readonly string EvaluationText = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "text", "devils-dictionary-a-b.txt");

    /// <summary>Σx² per column and rows per (step, role) as the hook delivers them, in f64.</summary>
    private sealed class Recorder : IMatMulInputObserver
    {
        public readonly Dictionary<(int, TensorRole), (double[] Sum2, long Rows)> Seen = [];

        public void OnMatMulInput(int step, TensorRole role, ReadOnlySpan<float> rows, int n)
        {
            int cols = rows.Length / n;
            if (!Seen.TryGetValue((step, role), out var e)) e = (new double[cols], 0);
            for (int r = 0; r < n; r++)
                for (int j = 0; j < cols; j++) e.Sum2[j] += (double)rows[r * cols + j] * rows[r * cols + j];
            Seen[(step, role)] = (e.Sum2, e.Rows + n);
        }
    }

    private sealed class Both(IMatMulInputObserver a, IMatMulInputObserver b) : IMatMulInputObserver
    {
        public void OnMatMulInput(int step, TensorRole role, ReadOnlySpan<float> rows, int n)
        {
            a.OnMatMulInput(step, role, rows, n);
            b.OnMatMulInput(step, role, rows, n);
        }
    }

    [Fact]
    public void A_layer_shared_block_collects_the_rows_of_both_passes_and_observing_changes_no_logit()
    {
        using var ir = ModelOpener.Open(Models.Path("mobilellm-ls-tiny"));
        int[] ids = [1, 5, 9, 17, 33, 65, 129, 200, 7, 3, 250, 11];
        // MaxBatch 5: the hook sees three chunks per input and the sums must still cover every row.
        var options = new ExecutorOptions { Threads = 1, MaxContext = ids.Length, MaxBatch = 5 };
        float[] plain;
        using (var t = new Transformer(ir, options)) plain = t.Forward(ids);
        var collector = new ImportanceCollector(ir);
        var recorder = new Recorder();
        using (var t = new Transformer(ir, options) { MatMulInputObserver = new Both(collector, recorder) })
            Assert.Equal(plain, t.Forward(ids));

        // Layer sharing: each stored block runs twice in a row, so the Q key of step 0 is step 1's too.
        Assert.Equal(ir.Steps[0].Q, ir.Steps[1].Q);
        var sharing = Enumerable.Range(0, ir.Steps.Count).Where(s => ir.Steps[s].Q == ir.Steps[0].Q).ToList();
        Assert.Equal(2, sharing.Count);
        var acc = collector.Accumulator;
        Assert.Equal(2L * ids.Length, acc.Rows(ir.Steps[0].Q));
        Assert.Equal(2L * ids.Length, acc.Rows(ir.Steps[0].K));
        Assert.Equal(2L * ids.Length, acc.Rows(ir.Steps[0].Down));
        Assert.Equal((long)ids.Length, acc.Rows(ir.Output));
        foreach (var (role, keyOf) in new (TensorRole, Func<LayerStep, string>)[] { (TensorRole.Q, s => s.V), (TensorRole.O, s => s.O), (TensorRole.Gate, s => s.Up), (TensorRole.Down, s => s.Down) })
        {
            var expected = new double[recorder.Seen[(sharing[0], role)].Sum2.Length];
            foreach (int s in sharing)
                for (int j = 0; j < expected.Length; j++) expected[j] += recorder.Seen[(s, role)].Sum2[j];
            var actual = acc.Sums(keyOf(ir.Steps[0]))!;
            // The collector sums each call's rows in f32 before adding them in f64.
            for (int j = 0; j < expected.Length; j++) Assert.True(Math.Abs(actual[j] - expected[j]) <= 1e-5 * expected[j] + 1e-9, $"{role} column {j}: {actual[j]} vs {expected[j]}");
        }
        var map = acc.Build("test");
        var v = map.For(ir.Steps[0].Q)!;
        Assert.Equal(ir.Config.HiddenSize, v.Length);
        Assert.Equal((float)(acc.Sums(ir.Steps[0].Q)![3] / acc.Rows(ir.Steps[0].Q)), v[3]);
    }

    [Fact]
    public void Calibration_reruns_are_byte_identical_recorded_and_differ_from_the_plain_search()
    {
        using var dir = new TempDir();
        string model = Models.Path("mobilellm-ls-tiny");
        string[] Args(string name, params string[] extra) => ["convert", model, "-o", dir[name], "--to", "gguf", "--quant", "q4_0", .. extra];
        var a = CliRunner.Run(Args("a.gguf", "--calibration", CalibrationText, "--json"));
        Assert.True(a.ExitCode == 0, a.ToString());
        var b = CliRunner.Run(Args("b.gguf", "--calibration", CalibrationText));
        Assert.True(b.ExitCode == 0, b.ToString());
        var plain = CliRunner.Run(Args("plain.gguf"));
        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.Equal(File.ReadAllBytes(dir["a.gguf"]), File.ReadAllBytes(dir["b.gguf"]));
        Assert.NotEqual(File.ReadAllBytes(dir["a.gguf"]), File.ReadAllBytes(dir["plain.gguf"]));
        using var json = JsonDocument.Parse(a.Stdout);
        Assert.Empty(json.RootElement.GetProperty("warnings").EnumerateArray());
        var notes = json.RootElement.GetProperty("passes").GetProperty("reports").EnumerateArray()
            .Single(r => r.GetProperty("pass").GetString() == "Quantize").GetProperty("notes").EnumerateArray().Select(n => n.GetString()!).ToList();
        Assert.Contains(notes, n => n.StartsWith("importance (calibration text devils-dictionary-c.txt, ", StringComparison.Ordinal) && n.EndsWith(" quantized tensors weighted", StringComparison.Ordinal));
    }

    [Fact]
    public void Calibrating_on_the_evaluation_text_is_warned_about_by_content_not_name()
    {
        using var dir = new TempDir();
        // A copy under another name is still the evaluation text.
        File.Copy(EvaluationText, dir["my-calibration.txt"]);
        var r = CliRunner.Run("convert", Models.Path("mobilellm-ls-tiny"), "-o", dir["m.gguf"], "--to", "gguf", "--quant", "q4_0", "--calibration", dir["my-calibration.txt"], "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.Stdout);
        var warning = Assert.Single(json.RootElement.GetProperty("warnings").EnumerateArray()).GetString()!;
        Assert.StartsWith($"Quantize: --calibration {dir["my-calibration.txt"]} is the default evaluation text (The Devil's Dictionary", warning);
        Assert.Contains(warning, r.Stderr);
    }

    [Theory]
    [InlineData(new[] { "--rounding", "rtn" }, "--calibration weights the scale search; --rounding rtn writes round-to-nearest bytes that ignore it")]
    [InlineData(new[] { "--quant", "f16" }, "--calibration weights the quantizer's scale search: it needs a quantized --quant")]
    [InlineData(new[] { "--imatrix", "x.dat" }, "--calibration and --imatrix: give one, not both")]
    public void Calibration_with_options_that_cannot_use_it_is_refused_and_writes_nothing(string[] extra, string message)
    {
        using var dir = new TempDir();
        string[] quant = extra.Contains("--quant") ? [] : ["--quant", "q4_0"];
        var r = CliRunner.Run(["convert", Models.Path("llama-tiny"), "-o", dir["m.gguf"], "--to", "gguf", .. quant, "--calibration", CalibrationText, .. extra]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"mlconvert: error: {message}\n", r.Stderr);
        Assert.False(File.Exists(dir["m.gguf"]));
    }
}
