using System.Globalization;

namespace MobileLlmConvert.Cli.Infrastructure;

internal static class TokenList
{
    /// <summary>Parses "1,17,40" and checks every id against the vocabulary.</summary>
    public static int[] Parse(string text, int vocabSize, string option = "--tokens")
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new UsageException($"{option}: expected comma-separated token ids, got '{text}'");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new UsageException($"{option}: '{parts[i]}' is not a token id");
            if (ids[i] >= vocabSize)
                throw new UsageException($"{option}: token id {ids[i]} is outside the vocabulary (size {vocabSize})");
        }
        return ids;
    }
}
