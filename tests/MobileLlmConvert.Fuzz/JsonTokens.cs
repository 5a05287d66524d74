namespace MobileLlmConvert.Fuzz;

/// <summary>
/// A forgiving JSON lexer for the mutator: it never fails, so it keeps finding tokens in text that
/// earlier mutations already broke. Strings run to the next unescaped quote (or the end), numbers
/// and bare words to the next delimiter; every other non-space byte is punctuation.
/// </summary>
internal static class JsonTokens
{
    public enum Kind { String, Number, Word, Punctuation }

    public readonly record struct Token(Kind Kind, int Start, int End);

    /// <summary>Inputs are small (capped JSON files), but a cap keeps a pathological one from costing a long scan per mutation.</summary>
    private const int MaxTokens = 100_000;

    public static List<Token> Scan(ReadOnlySpan<byte> text)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (i < text.Length && tokens.Count < MaxTokens)
        {
            byte c = text[i];
            if (c is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t') { i++; continue; }
            int start = i;
            if (c == (byte)'"')
            {
                i++;
                while (i < text.Length && text[i] != (byte)'"') i += text[i] == (byte)'\\' ? 2 : 1;
                i = Math.Min(i + 1, text.Length);
                tokens.Add(new Token(Kind.String, start, i));
            }
            else if (c is (byte)'-' or (>= (byte)'0' and <= (byte)'9'))
            {
                while (i < text.Length && text[i] is (byte)'-' or (byte)'+' or (byte)'.' or (byte)'e' or (byte)'E' or (>= (byte)'0' and <= (byte)'9')) i++;
                tokens.Add(new Token(Kind.Number, start, i));
            }
            else if (c is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z'))
            {
                while (i < text.Length && text[i] is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z')) i++;
                tokens.Add(new Token(Kind.Word, start, i));
            }
            else
            {
                i++;
                tokens.Add(new Token(Kind.Punctuation, start, i));
            }
        }
        return tokens;
    }
}
