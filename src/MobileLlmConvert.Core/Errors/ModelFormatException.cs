namespace MobileLlmConvert.Core.Errors;

/// <summary>
/// Bad input: a file that is malformed, malicious or inconsistent. Every reader throws a subclass
/// (one per format, with an error-kind enum); the CLI prints <see cref="Exception.Message"/> as one
/// line on stderr and exits 2. The message names the file, the field and the offending value.
/// </summary>
public abstract class ModelFormatException : Exception
{
    /// <summary>Longest value echoed back: a hostile file must not make us print megabytes.</summary>
    public const int MaxValueChars = 120;

    public string File { get; }
    public string Field { get; }
    public string Value { get; }
    public string Reason { get; }
    public abstract string Format { get; }
    public abstract string KindName { get; }

    protected ModelFormatException(string file, string field, string value, string reason, Exception? inner = null)
        : base(Compose(file, field, value, reason), inner)
    {
        File = file;
        Field = field;
        Value = Truncate(value);
        Reason = reason;
    }

    /// <summary>Every part is escaped (<see cref="MessageText.Escape"/>): file names and field names come from hostile files too.</summary>
    private static string Compose(string file, string field, string value, string reason) =>
        $"{MessageText.Escape(file)}: {MessageText.Escape(field)} = {Truncate(value)}: {MessageText.Escape(reason)}";

    /// <summary>The value as echoed: control characters escaped, then cut to <see cref="MaxValueChars"/>.</summary>
    public static string Truncate(string value)
    {
        var oneLine = MessageText.Escape(value);
        return oneLine.Length <= MaxValueChars ? oneLine : oneLine[..MaxValueChars] + "…";
    }
}

/// <summary>The per-format exception shape: a format's exception derives from this with its own kind enum.</summary>
public abstract class ModelFormatException<TKind>(TKind kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException(file, field, value, reason, inner) where TKind : struct, Enum
{
    public TKind Kind { get; } = kind;
    public override string KindName => Kind.ToString();
}

public enum IrError
{
    BadConfig,
    MissingTensor,
    ShapeMismatch,
    TokenizerMismatch,
}

/// <summary>The IR and a config disagree (raised by <see cref="Ir.IrValidator"/>).</summary>
public sealed class IrException(IrError kind, string file, string field, string value, string reason)
    : ModelFormatException<IrError>(kind, file, field, value, reason)
{
    public override string Format => "config";
}
