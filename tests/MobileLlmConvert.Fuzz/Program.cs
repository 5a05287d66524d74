using System.Globalization;
using MobileLlmConvert.Fuzz;

// Long fuzz runs (bench/fuzz.sh): every target, or one, for a time or an input budget each.
//   --target NAME   one target (default: all)      --seconds N   per target (default 60)
//   --inputs N      per target (default: no cap)   --seed N      run seed (default: the UTC day)
//   --replay I      read input I of the run seed and print its outcome
//   --save DIR      where findings are written (default: artifacts/fuzz)
// Exit code 1 when a target has a finding.
string? only = null;
double seconds = 60;
long inputs = long.MaxValue;
ulong seed = FuzzRunner.DefaultSeed();
long? replay = null;
string save = Path.Combine(FuzzTargets.RepoRoot, "artifacts", "fuzz");
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--target": only = Value(); break;
        case "--seconds": seconds = double.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--inputs": inputs = long.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--seed": seed = ulong.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--replay": replay = long.Parse(Value(), CultureInfo.InvariantCulture); break;
        case "--save": save = Value(); break;
        default: Console.Error.WriteLine($"fuzz: unknown option {args[i]}"); return 2;
    }
}
var targets = only is null ? FuzzTargets.All : [FuzzTargets.Get(only)];
if (replay is { } index)
{
    if (targets.Count != 1) { Console.Error.WriteLine("fuzz: --replay needs --target"); return 2; }
    var input = FuzzRunner.Input(targets[0], targets[0].Seeds(), seed, index);
    using var scratch = new FuzzScratch();
    var outcome = FuzzRunner.RunOne(targets[0], input, scratch);
    Console.WriteLine($"{(outcome.Finding ? "FINDING" : "ok")}: {outcome.Summary}");
    string path = Path.Combine(save, $"{targets[0].Name}-{seed}-{index}.bin");
    Directory.CreateDirectory(save);
    File.WriteAllBytes(path, input);
    Console.WriteLine($"input written to {path}");
    return outcome.Finding ? 1 : 0;
}
int status = 0;
Console.WriteLine($"seed {seed}");
foreach (var target in targets)
{
    var stats = FuzzRunner.Run(target, seed, TimeSpan.FromSeconds(seconds), inputs, save);
    Console.WriteLine(stats);
    foreach (var (kind, count) in stats.Refusals.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
        Console.WriteLine($"    {count,10}  {kind}");
    if (stats.Failure is not null) status = 1;
}
return status;
