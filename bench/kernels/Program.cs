// Kernel microbenchmark: GB/s of weights through the decode kernels (one activation row times a
// matrix) per type and instruction-set level, levels interleaved round by round in one process so a
// machine shared with other jobs slows them alike; prints medians and the ratio to AVX2. Time is the
// thread's CPU time (clock_gettime CLOCK_THREAD_CPUTIME_ID), not wall time: on a machine where many
// jobs share the cores, wall time mostly measures the run queue.
//   bench/kernels.sh [--rounds N] [--types q4_0,q8_0,...] [--rows-large N] [--scalar]
//   bench/kernels.sh --model FILE [--rounds N] [--prompt-tokens P] [--gen-tokens G]
// The second form runs the executor's benchmark (Benchmark.Run, one thread, inline on this thread so
// the forced level applies) per level and reports prefill and decode tokens per second of process CPU
// time (the benchmark's processor times) beside wall-clock tokens/s.
using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Runtime;

int rounds = 9, largeRows = 65536, promptTokens = 128, genTokens = 64;
string? model = null;
bool withScalar = false; // also time the scalar reference (slow: for types whose SIMD kernels are new)
const int Cols = 1536, SmallRows = 576; // MobileLLM-125M's ffn_down: 576 x 1536
string[] types = ["q8_0", "q4_0", "q4_1", "q8_g64", "q4_g64", "q4_g128", "q4_1_g64", "q4_1_g128", "q5_0", "q5_1", "q4_k", "q6_k", "f16"];
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--rounds": rounds = int.Parse(args[++i]); break;
        case "--types": types = args[++i].Split(','); break;
        case "--rows-large": largeRows = int.Parse(args[++i]); break;
        case "--model": model = args[++i]; break;
        case "--scalar": withScalar = true; break;
        case "--prompt-tokens": promptTokens = int.Parse(args[++i]); break;
        case "--gen-tokens": genTokens = int.Parse(args[++i]); break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
var levels = Enum.GetValues<QuantIsaLevel>().Where(l => (withScalar || l >= QuantIsaLevel.Avx2) && l <= QuantIsa.Process).ToArray();
if (model is not null)
{
    // With --scalar also the scalar level: for an f16 model that is the tile path the f16 kernels
    // replaced (for a quantized model it is the slow reference: minutes per round).
    // Each level three times: the multi-row decode kernel over repacked panels (the default), over the
    // file's layout ("-nopack"), and the per-row kernel ("-1row").
    var all = levels.SelectMany(l => new[] { (Level: l, Rows: true, Pack: true), (Level: l, Rows: true, Pack: false), (Level: l, Rows: false, Pack: false) }).ToArray();
    using var ir = MobileLlmConvert.Models.Open(model);
    var prefill = all.Select(_ => new List<(double Cpu, double Wall)>()).ToArray();
    var decode = all.Select(_ => new List<(double Cpu, double Wall)>()).ToArray();
    var opts = new BenchOptions { Threads = 1, PromptTokens = promptTokens, GenTokens = genTokens };
    for (int round = 0; round < rounds; round++)
    {
        for (int i = 0; i < all.Length; i++)
        {
            using var _ = QuantIsa.Force(all[i].Level);
            using var __ = QuantRowsAvx2.Force(all[i].Rows);
            using var ___ = QuantRowsAvx2.ForcePack(all[i].Pack);
            var r = Benchmark.Run(ir, opts);
            prefill[i].Add((r.PromptTokens / r.PrefillProcessorTime.TotalSeconds, r.PrefillTokensPerSecond));
            decode[i].Add((r.GenTokens / r.DecodeProcessorTime.TotalSeconds, r.DecodeTokensPerSecond));
        }
    }
    static double Median(IEnumerable<double> v) { var s = v.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
    Console.WriteLine($"# {model}: 1 thread, P={promptTokens}, G={genTokens}, {rounds} rounds interleaved; median tokens per CPU-second (wall tokens/s)");
    Console.WriteLine($"{"level",-12} {"prefill",16} {"decode",16}");
    for (int i = 0; i < all.Length; i++)
        Console.WriteLine($"{VariantName(all[i].Level, all[i].Rows, all[i].Pack),-12} {Median(prefill[i].Select(p => p.Cpu)),8:F1} ({Median(prefill[i].Select(p => p.Wall)),5:F1}) {Median(decode[i].Select(p => p.Cpu)),8:F1} ({Median(decode[i].Select(p => p.Wall)),5:F1})");
    return 0;
}
Console.WriteLine($"# cpu level {QuantIsa.Name(QuantIsa.Process)}, {rounds} rounds, median GB/s of weight bytes, {Cols} columns");
Console.WriteLine($"{"type",-8} {"rows",6} {"MiB",6} {"kernel",-12} {"GB/s",7} {"vs avx2",8}");
foreach (var name in types)
{
    if (!ElementTypes.TryParse(name, out var type)) { Console.Error.WriteLine($"unknown type {name}"); return 2; }
    foreach (int rows in new[] { SmallRows, largeRows }) Measure(type, rows);
}
return 0;

unsafe void Measure(ElementType type, int rows)
{
    var info = type.Info();
    int rowBytes = checked((int)type.ByteSize([Cols])!.Value);
    var w = GC.AllocateUninitializedArray<byte>(checked(rows * rowBytes), pinned: true);
    var rng = new SplitMix64(1);
    var src = new float[Cols];
    // One quantized template row per 64, copied: quantizing 65536 rows would take longer than the benchmark.
    for (int r = 0; r < rows; r++)
    {
        if (r < 64)
        {
            for (int k = 0; k < Cols; k++) src[k] = 0.05f * rng.NextGaussian();
            if (info.IsQuantized) QuantOps.Quantize(type, src, w.AsSpan(r * rowBytes, rowBytes));
            else FloatConvert.FromSingle(src, type, w.AsSpan(r * rowBytes, rowBytes));
        }
        else w.AsSpan((r % 64) * rowBytes, rowBytes).CopyTo(w.AsSpan(r * rowBytes, rowBytes));
    }
    var x = new float[Cols];
    for (int k = 0; k < Cols; k++) x[k] = rng.NextGaussian();
    var y = new float[rows];
    byte[] xq = info.IsQuantized ? new byte[QuantOps.ActivationBytes(type, Cols)] : [];
    var scratch = new float[4 * Cols];
    // f16 row verdicts: all finite (the scaled conversion) and all "non-finite" (the exact conversion it replaced).
    var finite = new byte[rows];
    var exact = Enumerable.Repeat(FloatKernels.RowNonFinite, rows).ToArray();
    // The kernels compared: every ISA level; for f16 also the tile path (convert 4 rows, then multiply) it replaced.
    var kernels = new List<(string Name, Action Run)>();
    foreach (var level in levels)
    {
        var l = level;
        if (!info.IsQuantized && l == QuantIsaLevel.Scalar) continue; // f16's scalar level is the tile path below
        if (info.IsQuantized)
        {
            // The multi-row decode kernel (default) and, where it applies, the per-row kernel it replaced
            // and the multi-row kernel over panels packed once beforehand (as WeightMatrix does at load).
            foreach (bool multi in l == QuantIsaLevel.Scalar ? new[] { true } : new[] { true, false })
            {
                kernels.Add((VariantName(l, multi, false), () =>
                {
                    using var _ = QuantIsa.Force(l);
                    using var __ = QuantRowsAvx2.Force(multi);
                    QuantOps.QuantizeActivations(type, x, xq);
                    QuantOps.DotFastRows(type, w, rowBytes, xq, y);
                }));
            }
            bool canPack;
            using (QuantIsa.Force(l)) canPack = QuantOps.CanPackPanels(type) && rows % QuantOps.PanelRows == 0;
            if (canPack)
            {
                var packed = GC.AllocateUninitializedArray<byte>(w.Length, pinned: true);
                using (QuantIsa.Force(l)) QuantOps.PackPanels(type, w, rowBytes, Cols, rows / QuantOps.PanelRows, packed);
                kernels.Add((QuantIsa.Name(l) + "-panel", () =>
                {
                    using var _ = QuantIsa.Force(l);
                    QuantOps.QuantizeActivations(type, x, xq);
                    QuantOps.DotFastPanels(type, packed, Cols, xq, y);
                }));
            }
        }
        else
        {
            kernels.Add((QuantIsa.Name(l), () =>
            {
                using var _ = QuantIsa.Force(l);
                fixed (byte* wp = w, sp = finite) fixed (float* xp = x, yp = y) FloatKernels.DotF16Rows((ushort*)wp, rows, Cols, xp, yp, sp);
            }));
            kernels.Add((QuantIsa.Name(l) + "-exact", () =>
            {
                using var _ = QuantIsa.Force(l);
                fixed (byte* wp = w, sp = exact) fixed (float* xp = x, yp = y) FloatKernels.DotF16Rows((ushort*)wp, rows, Cols, xp, yp, sp);
            }));
        }
    }
    if (!info.IsQuantized)
    {
        kernels.Insert(0, ("f16-tile", () =>
        {
            fixed (float* tile = scratch) fixed (float* xp = x, yp = y)
            {
                for (int t0 = 0; t0 < rows; t0 += 4)
                {
                    FloatConvert.ToSingle(w.AsSpan(t0 * rowBytes, 4 * rowBytes), type, scratch);
                    FloatKernels.Multiply(tile, 4, Cols, xp, Cols, 1, yp + t0, rows);
                }
            }
        }));
    }
    var times = kernels.Select(_ => new List<double>()).ToArray();
    foreach (var k in kernels) k.Run(); // JIT and page in
    for (int round = 0; round < rounds; round++)
    {
        for (int i = 0; i < kernels.Count; i++)
        {
            // Repeat to at least 30 ms of CPU time.
            int reps = 0;
            double start = ThreadCpuSeconds(), elapsed;
            do { kernels[i].Run(); reps++; } while ((elapsed = ThreadCpuSeconds() - start) < 0.03);
            times[i].Add(elapsed / reps);
        }
    }
    double avx2 = 0;
    for (int i = 0; i < kernels.Count; i++)
    {
        var sorted = times[i].OrderBy(t => t).ToList();
        double gbs = w.Length / sorted[sorted.Count / 2] / 1e9;
        if (kernels[i].Name == "avx2") avx2 = gbs;
        string ratio = avx2 > 0 ? $"{gbs / avx2,8:F2}" : "";
        Console.WriteLine($"{type.Info().Name,-8} {rows,6} {w.Length / 1048576.0,6:F1} {kernels[i].Name,-12} {gbs,7:F2} {ratio}");
    }
}

static string VariantName(QuantIsaLevel level, bool multiRow, bool pack) =>
    QuantIsa.Name(level) + (!multiRow ? "-1row" : pack ? "-panel" : "");

static double ThreadCpuSeconds()
{
    const int ClockThreadCpuTimeId = 3; // Linux <time.h>
    if (Native.clock_gettime(ClockThreadCpuTimeId, out var ts) != 0) throw new InvalidOperationException("clock_gettime failed");
    return ts.Seconds + ts.Nanoseconds * 1e-9;
}

[StructLayout(LayoutKind.Sequential)]
struct TimeSpec
{
    public long Seconds;
    public long Nanoseconds;
}

static class Native
{
    [DllImport("libc", SetLastError = true)]
    public static extern int clock_gettime(int clock, out TimeSpec time);
}
