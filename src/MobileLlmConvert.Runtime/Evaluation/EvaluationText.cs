namespace MobileLlmConvert.Runtime.Evaluation;

/// <summary>
/// The text `mlconvert diff` scores when given none: the preface and entries A–B of Ambrose Bierce's
/// The Devil's Dictionary (1911, public domain), from Debian's dict-devil package
/// (testdata/text/README.md). An evaluation text only: nothing calibrates or tunes on it.
/// </summary>
public static class EvaluationText
{
    /// <summary>How reports name the default text: the work, its author and year, and that it is public domain.</summary>
    public const string DefaultName = "The Devil's Dictionary, preface and A-B (Ambrose Bierce, 1911; public domain)";

    private static readonly Lazy<string> Text = new(() =>
    {
        using var stream = typeof(EvaluationText).Assembly.GetManifestResourceStream("MobileLlmConvert.Runtime.Evaluation.DefaultText")
            ?? throw new InvalidOperationException("the default evaluation text is missing from the assembly");
        using var reader = new StreamReader(stream, new System.Text.UTF8Encoding(false, true));
        return reader.ReadToEnd();
    });

    /// <summary>The whole default text (33,122 bytes of ASCII).</summary>
    public static string Default => Text.Value;
}
