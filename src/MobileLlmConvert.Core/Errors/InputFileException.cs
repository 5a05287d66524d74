namespace MobileLlmConvert.Core.Errors;

/// <summary>Why an input file could not be read safely, whatever its format.</summary>
public enum InputFileError
{
    /// <summary>A FIFO, device, socket or directory where a regular file is read: refused by type before it is opened.</summary>
    NotRegularFile,
    /// <summary>The file's size or modification time changed after it was opened (truncated or rewritten under us).</summary>
    ChangedWhileReading,
}

/// <summary>An input file that cannot be read safely, whatever its format.</summary>
public sealed class InputFileException(InputFileError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<InputFileError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "input";
}

/// <summary>Why an output was refused or could not be written.</summary>
public enum OutputError
{
    /// <summary>The output is an input, holds one, or is the working directory (or an ancestor of either).</summary>
    WouldOverwriteInput,
    /// <summary>The output exists and is not a previous artifact of ours; --force replaces it.</summary>
    ExistsNotOurs,
    /// <summary>Another mlconvert is replacing the same output right now.</summary>
    Busy,
}

/// <summary>An output path this tool refuses to write (docs/cli.md, "Where outputs go").</summary>
public sealed class OutputException(OutputError kind, string file, string field, string value, string reason)
    : ModelFormatException<OutputError>(kind, file, field, value, reason)
{
    /// <inheritdoc/>
    public override string Format => "output";
}
