using System.Globalization;
using System.Text;

namespace MobileLlmConvert.Reports;

/// <summary>
/// Text and numbers as they appear in the page. Every string that reaches the page passes through
/// <see cref="Escape"/>: model paths, tensor names and above all the evaluated text are user input.
/// </summary>
internal static class HtmlText
{
    /// <summary>
    /// Escapes the five characters HTML gives meaning to (HTML Living Standard, 13.1.2 "Elements" and
    /// 13.1.2.6 attribute values), and shows as visible symbols the characters a reader cannot see or
    /// that change what is around them: C0/C1 controls (as the Unicode "Control Pictures" U+2400 block
    /// or \uXXXX), and bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069, which could
    /// make a context read backwards). Lone surrogates become U+FFFD so the page is valid UTF-8.
    /// </summary>
    public static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length + 16);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                case < '\u0020': sb.Append(Visible((char)(0x2400 + c))); break;
                case '\u007f': sb.Append(Visible('\u2421')); break;
                case >= '\u0080' and <= '\u009f':
                case >= '\u202a' and <= '\u202e':
                case >= '\u2066' and <= '\u2069':
                case '\u2028' or '\u2029' or '\ufeff':
                    sb.Append(Visible($"\\u{(int)c:X4}")); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                    {
                        sb.Append(c).Append(text[++i]);
                    }
                    else if (char.IsSurrogate(c)) sb.Append('\ufffd');
                    else sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }

    private static string Visible(char symbol) => Visible(symbol.ToString());

    private static string Visible(string symbol) => $"<span class=\"ctl\">{symbol}</span>";

    /// <summary>Plot labels are drawn, not parsed, but still must not carry controls or run off the image.</summary>
    public static string Label(string text, int maxChars)
    {
        var sb = new StringBuilder(Math.Min(text.Length, maxChars + 1));
        foreach (char c in text)
        {
            sb.Append(char.IsControl(c) || char.IsSurrogate(c) || c is >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069' ? '?' : c);
        }
        return sb.Length <= maxChars ? sb.ToString() : "…" + sb.ToString(sb.Length - (maxChars - 1), maxChars - 1);
    }

    /// <summary>The last path component, so a long absolute path does not hide the name that tells candidates apart.</summary>
    public static string ShortName(string path)
    {
        string trimmed = path.TrimEnd('/', '\\');
        string name = Path.GetFileName(trimmed);
        return name.Length > 0 ? name : path;
    }

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>KL and other small positive quantities: four significant digits, scientific below 1e-3.</summary>
    public static string Small(double v) => v switch
    {
        double.NaN => "NaN",
        double.PositiveInfinity => "∞",
        double.NegativeInfinity => "−∞",
        0 => "0",
        _ when Math.Abs(v) < 1e-3 || Math.Abs(v) >= 1e5 => v.ToString("0.000e+0", Inv),
        _ => v.ToString("G4", Inv),
    };

    /// <summary>A signed quantity (delta-p, log ratio): sign always shown so a reader sees the direction.</summary>
    public static string Signed(double v) => double.IsFinite(v) && v > 0 ? "+" + Small(v) : Small(v);

    public static string Percent(double fraction) => double.IsFinite(fraction) ? (fraction * 100).ToString("0.00", Inv) + " %" : Small(fraction);

    public static string Fixed(double v, int decimals) => double.IsFinite(v) ? v.ToString("F" + decimals.ToString(Inv), Inv) : Small(v);

    public static string Int(int v) => v.ToString(Inv);
}
