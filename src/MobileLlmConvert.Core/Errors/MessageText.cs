using System.Globalization;
using System.Text;

namespace MobileLlmConvert.Core.Errors;

/// <summary>
/// The one escaping rule for every message that echoes a value or a path: a hostile file name or
/// config value must not reach a terminal as escape sequences (ESC, CSI), must not forge extra
/// lines (\n, \r, U+2028) and must not reorder the line (bidi overrides). Control characters
/// (Unicode category Cc: C0, DEL, C1), format characters (Cf: bidi controls, zero-width) and line or
/// paragraph separators (Zl, Zp) are written as C-style escapes; a backslash itself is left alone.
/// </summary>
internal static class MessageText
{
    public static string Escape(string text)
    {
        int i = 0;
        while (i < text.Length && !NeedsEscape(text[i])) i++;
        if (i == text.Length) return text;
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!NeedsEscape(c))
            {
                sb.Append(c);
                continue;
            }
            sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\0' => "\\0",
                < '\u0100' => "\\x" + ((int)c).ToString("x2", CultureInfo.InvariantCulture),
                _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
            });
        }
        return sb.ToString();
    }

    private static bool NeedsEscape(char c) =>
        c < ' ' || (c >= '\u007f' && CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
}
