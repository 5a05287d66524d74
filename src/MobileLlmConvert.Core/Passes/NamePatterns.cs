using System.Text;

namespace MobileLlmConvert.Core.Passes;

/// <summary>
/// Short text for lists of layer indices and tensor names, so a report says
/// "model.layers.{1..21}.mlp.gate_proj.weight" instead of 21 names.
/// </summary>
internal static class NamePatterns
{
    /// <summary>Ascending distinct integers as runs: "0..21", "0,1", "0,2..4".</summary>
    public static string Ranges(IEnumerable<int> values)
    {
        var sorted = values.Distinct().Order().ToList();
        var sb = new StringBuilder();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            if (sb.Length > 0) sb.Append(',');
            sb.Append(sorted[i]);
            // A run of two is written "0,1": "0..1" reads worse and is no shorter.
            if (j == i + 1) sb.Append(',').Append(sorted[j]);
            else if (j > i + 1) sb.Append("..").Append(sorted[j]);
            i = j + 1;
        }
        return sb.ToString();
    }

    /// <summary>
    /// Names that differ only in their first numeric dot-separated segment are folded into one
    /// pattern with the numbers as ranges; other names are kept as they are. Order of first appearance.
    /// </summary>
    public static IReadOnlyList<string> Compress(IEnumerable<string> names)
    {
        var groups = new List<(string Template, List<int> Numbers, string First)>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var (template, number) = Split(name);
            if (template is null)
            {
                groups.Add((name, [], name));
                continue;
            }
            if (index.TryGetValue(template, out int g)) groups[g].Numbers.Add(number);
            else
            {
                index[template] = groups.Count;
                groups.Add((template, [number], name));
            }
        }
        return groups.Select(g => g.Numbers.Count <= 1 ? g.First : g.Template.Replace("{}", "{" + Ranges(g.Numbers) + "}", StringComparison.Ordinal)).ToList();
    }

    /// <summary>Joins <see cref="Compress"/>d names with ", ".</summary>
    public static string Join(IEnumerable<string> names) => string.Join(", ", Compress(names));

    /// <summary>
    /// Splits "model.layers.12.mlp.up_proj.weight" into "model.layers.", 12 and "mlp.up_proj.weight":
    /// the first all-digit dot-separated segment is the layer index.
    /// </summary>
    public static bool TrySplitIndex(string name, out string prefix, out int index, out string suffix)
    {
        var parts = name.Split('.');
        for (int i = 0; i < parts.Length - 1; i++)
        {
            if (parts[i].Length is > 0 and <= 9 && parts[i].All(char.IsAsciiDigit))
            {
                prefix = i == 0 ? "" : string.Join('.', parts[..i]) + ".";
                index = int.Parse(parts[i], System.Globalization.CultureInfo.InvariantCulture);
                suffix = string.Join('.', parts[(i + 1)..]);
                return true;
            }
        }
        (prefix, index, suffix) = ("", 0, "");
        return false;
    }

    private static (string? Template, int Number) Split(string name)
    {
        // A name that already holds "{}" would be ambiguous as a template: keep it as it is.
        if (name.Contains("{}", StringComparison.Ordinal) || !TrySplitIndex(name, out var prefix, out int index, out var suffix)) return (null, 0);
        return (prefix + "{}." + suffix, index);
    }
}
