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

    /// <summary>The file (or directory) that is bad, as the user named it.</summary>
    public string File { get; }
    /// <summary>The field, key or record inside the file that is bad.</summary>
    public string Field { get; }
    /// <summary>The bad value as found, control characters escaped and cut to <see cref="MaxValueChars"/>.</summary>
    public string Value { get; }
    /// <summary>Why the value is refused.</summary>
    public string Reason { get; }
    /// <summary>The format's name as messages print it ("gguf", "safetensors", "config.json", ...).</summary>
    public abstract string Format { get; }
    /// <summary>The error kind's name (the subclass's kind enum member), for JSON output and tests.</summary>
    public abstract string KindName { get; }

    /// <summary>Builds the one-line message "FILE: FIELD = VALUE: REASON" from hostile-safe parts.</summary>
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
    /// <summary>Which rule of the format the file breaks.</summary>
    public TKind Kind { get; } = kind;
    /// <inheritdoc/>
    public override string KindName => Kind.ToString();
}

/// <summary>What an IR fails to satisfy (whichever file it came from).</summary>
public enum IrError
{
    /// <summary>The configuration is inconsistent (e.g. heads not dividing the hidden size).</summary>
    BadConfig,
    /// <summary>A step or the embedding/head names a tensor the IR does not hold.</summary>
    MissingTensor,
    /// <summary>A tensor's shape disagrees with what the configuration implies.</summary>
    ShapeMismatch,
    /// <summary>The tokenizer disagrees with the configuration (vocabulary size, special ids).</summary>
    TokenizerMismatch,
}

/// <summary>The IR and a config disagree (raised by <see cref="Ir.IrValidator"/>).</summary>
public sealed class IrException(IrError kind, string file, string field, string value, string reason)
    : ModelFormatException<IrError>(kind, file, field, value, reason)
{
    /// <inheritdoc/>
    public override string Format => "config";
}
