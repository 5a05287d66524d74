namespace MobileLlmConvert.Core.Quant;

/// <summary>
/// How much each input column of each stored matrix matters: the mean squared activation that reaches
/// it (llama.cpp's "importance matrix", tools/imatrix/imatrix.cpp: Σx² per column over every row the
/// matrix multiplied, divided by the row count). Keyed by IR tensor key; a stored tensor several steps
/// share holds the rows of all of them. The quantizer weights its scale search with these values
/// (<see cref="QuantKernel.Quantize(ReadOnlySpan{float}, Span{byte}, QuantRounding, ReadOnlySpan{float})"/>).
/// </summary>
public sealed class ImportanceMap
{
    private readonly Dictionary<string, float[]> _byKey;

    /// <summary>A map of per-column importance vectors by IR key; <paramref name="source"/> says where they came from, for reports.</summary>
    public ImportanceMap(IReadOnlyDictionary<string, float[]> byKey, string source)
    {
        _byKey = new Dictionary<string, float[]>(byKey, StringComparer.Ordinal);
        Source = source;
    }

    /// <summary>Where the values came from ("calibration text FILE, N tokens", "imatrix FILE").</summary>
    public string Source { get; }

    /// <summary>The IR keys that have importance, in ordinal order.</summary>
    public IReadOnlyList<string> Keys => [.. _byKey.Keys.Order(StringComparer.Ordinal)];

    /// <summary>What the Quantize pass report should warn about (e.g. a calibration text that is the evaluation text).</summary>
    public IReadOnlyList<string> Warnings { get; private init; } = [];

    /// <summary>This map with one more warning.</summary>
    public ImportanceMap WithWarning(string warning) => new(_byKey, Source) { Warnings = [.. Warnings, warning] };

    /// <summary>The importance of <paramref name="key"/>'s input columns, or null.</summary>
    public float[]? For(string key) => _byKey.GetValueOrDefault(key);
}

/// <summary>
/// Collects Σx² per input column and the number of rows per stored tensor, then divides
/// (<see cref="Build"/>). Sums are f64: a long calibration text adds many small squares.
/// </summary>
public sealed class ImportanceAccumulator
{
    private readonly Dictionary<string, (double[] Sum2, long Rows)> _byKey = new(StringComparer.Ordinal);

    /// <summary>Adds <paramref name="n"/> activation rows ([n, columns], row-major) that multiply <paramref name="key"/>.</summary>
    public void AddRows(string key, ReadOnlySpan<float> rows, int n)
    {
        if (n <= 0) return;
        int cols = rows.Length / n;
        var sum2 = Entry(key, cols, n);
        for (int r = 0; r < n; r++)
        {
            var x = rows.Slice(r * cols, cols);
            for (int j = 0; j < cols; j++) sum2[j] += (double)x[j] * x[j];
        }
    }

    /// <summary>Adds sums of squares already collected over <paramref name="rows"/> rows (an imatrix file's entry).</summary>
    public void AddSums(string key, ReadOnlySpan<float> sum2, long rows)
    {
        var acc = Entry(key, sum2.Length, rows);
        for (int j = 0; j < sum2.Length; j++) acc[j] += sum2[j];
    }

    private double[] Entry(string key, int cols, long rows)
    {
        if (_byKey.TryGetValue(key, out var e))
        {
            if (e.Sum2.Length != cols) throw new ArgumentException($"{key}: {cols} columns added to {e.Sum2.Length}");
            _byKey[key] = (e.Sum2, checked(e.Rows + rows));
            return e.Sum2;
        }
        var sum2 = new double[cols];
        _byKey[key] = (sum2, rows);
        return sum2;
    }

    /// <summary>Rows added for <paramref name="key"/> (0 if none): a matrix shared by k steps counts the rows of all k.</summary>
    public long Rows(string key) => _byKey.TryGetValue(key, out var e) ? e.Rows : 0;

    /// <summary>Σx² per column added for <paramref name="key"/>, or null.</summary>
    public IReadOnlyList<double>? Sums(string key) => _byKey.TryGetValue(key, out var e) ? e.Sum2 : null;

    /// <summary>The mean squared activation per column of every tensor with at least one row.</summary>
    public ImportanceMap Build(string source)
    {
        var map = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (key, (sum2, rows)) in _byKey)
        {
            if (rows <= 0) continue;
            var mean = new float[sum2.Length];
            for (int j = 0; j < mean.Length; j++) mean[j] = (float)(sum2[j] / rows);
            map[key] = mean;
        }
        return new ImportanceMap(map, source);
    }
}
