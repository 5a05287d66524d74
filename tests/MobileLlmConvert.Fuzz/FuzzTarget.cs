namespace MobileLlmConvert.Fuzz;

/// <summary>
/// One reader under fuzz: where its seeds come from, the entry point that reads one input, and the
/// exception types that count as a clean refusal (the format's own <see cref="Core.Errors.ModelFormatException"/>
/// subclasses). Anything else thrown, an input slower than <see cref="FuzzLimits.SlowInput"/> or one
/// allocating more than <see cref="FuzzLimits.MaxAllocatedBytes"/> is a finding.
/// </summary>
public sealed class FuzzTarget
{
    /// <summary>Also the folder of its regression inputs: testdata/fuzz/&lt;Name&gt;/.</summary>
    public required string Name { get; init; }

    /// <summary>Builds the seeds (from the committed fixtures under testdata/); called once per run.</summary>
    public required Func<IReadOnlyList<FuzzSeed>> Seeds { get; init; }

    /// <summary>Reads one input to the end (tensor bytes included where the reader is lazy).</summary>
    public required Action<byte[], FuzzScratch> Run { get; init; }

    /// <summary>The exceptions that are a correct refusal of a bad input.</summary>
    public required IReadOnlyList<Type> Expected { get; init; }

    /// <summary>Adds the token-level JSON mutations.</summary>
    public bool Json { get; init; }

    /// <summary>
    /// Applied to three inputs in four after mutation: repairs a checksum or a length so the
    /// mutation reaches the rules behind it (a coverage-less fuzzer rarely guesses a SHA-256).
    /// </summary>
    public Func<byte[], byte[]>? Fixup { get; init; }

    public bool IsExpected(Exception e) => Expected.Any(t => t.IsInstanceOfType(e));
}

/// <summary>The limits of issue 9: what makes an input a finding rather than a refusal.</summary>
public static class FuzzLimits
{
    /// <summary>No input of a few hundred KB may take seconds: that is a hang or a quadratic path.</summary>
    public static readonly TimeSpan SlowInput = TimeSpan.FromSeconds(2);

    /// <summary>An input still running after this is reported as a hang without waiting for it.</summary>
    public static readonly TimeSpan Hang = TimeSpan.FromSeconds(20);

    /// <summary>Inputs are at most a few hundred KB; a reader that allocates 512 MB for one trusted a claimed size.</summary>
    public const long MaxAllocatedBytes = 512L << 20;
}

/// <summary>
/// A private directory for targets whose reader takes a path (GGUF's IR builder maps the file).
/// Its path is replaced by "&lt;scratch&gt;" in recorded messages so they do not depend on the run.
/// </summary>
public sealed class FuzzScratch : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("mlc-fuzz-").FullName;

    public string File(string name) => Path.Combine(Directory, name);

    public string Normalize(string message) => message.Replace(Directory, "<scratch>", StringComparison.Ordinal);

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
