using System.Globalization;

namespace MobileLlmConvert.Cli.Infrastructure;

internal static class TokenList
{
    /// <summary>Parses "1,17,40" and checks every id against the vocabulary and the count against the context.</summary>
    public static int[] Parse(string text, int vocabSize, int contextLength, string option = "--tokens")
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
        // Positions past the trained context would run RoPE where the model never was: refuse, do not guess.
        if (ids.Length > contextLength)
            throw new UsageException($"{option}: {ids.Length} tokens exceed the model's context of {contextLength}");
        return ids;
    }
}
