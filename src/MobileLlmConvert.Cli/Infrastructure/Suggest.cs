namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// "Did you mean" for a misspelled verb or option: the known name at the smallest Levenshtein
/// distance, offered only when the distance is small for the word's length (a third of it, at least
/// 1 and at most <see cref="MaxDistance"/>), so a word that resembles nothing gets no suggestion.
/// </summary>
internal static class Suggest
{
    public const int MaxDistance = 3;

    public static string? Nearest(string typed, IEnumerable<string> known)
    {
        int limit = Math.Clamp(typed.Length / 3, 1, MaxDistance);
        string? best = null;
        int bestDistance = int.MaxValue;
        // Ordinal order first, so ties resolve the same way on every run.
        foreach (var name in known.Order(StringComparer.Ordinal))
        {
            int d = Distance(typed, name);
            if (d < bestDistance)
            {
                best = name;
                bestDistance = d;
            }
        }
        return bestDistance <= limit ? best : null;
    }

    /// <summary>Edit distance (insert, delete, substitute, each cost 1), two rows of the usual table.</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitute, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
