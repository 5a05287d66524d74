using System.Text.RegularExpressions;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// A failure as the user sees it: the stderr line <c>mlconvert: error: FILE: FIELD = VALUE: MESSAGE</c>
/// (the parts that are known) and, with --json, the same parts in the error document. File, field
/// and value are null when the failure does not name them (a usage error).
/// </summary>
internal sealed partial record CliError(string? File, string? Field, string? Value, string Message, int Exit)
{
    /// <summary>The one stderr line, control characters escaped (hostile names cannot drive the terminal).</summary>
    public string Line
    {
        get
        {
            string where = File is null ? "" : File + ": ";
            string what = Field is null ? "" : Value is null ? Field + ": " : $"{Field} = {Value}: ";
            return MessageText.Escape($"mlconvert: error: {where}{what}{Message}");
        }
    }

    public static CliError Usage(string message) => new(null, null, null, message, CliApp.ExitBadInput);

    /// <summary>
    /// Maps an exception to what the user is told. .NET's own texts ("Could not find a part of the
    /// path '...'") are not shown: the path is taken out of them and named with a short reason, and a
    /// temporary file of ours is named by the output it stands for.
    /// </summary>
    public static CliError From(Exception ex) => ex switch
    {
        ModelFormatException f => new(f.File, f.Field, f.Value, f.Reason, CliApp.ExitBadInput),
        UsageException or QuantPolicyException or ModelUsageException => Usage(ex.Message),
        // Weights that cannot be converted (a NaN the quantizer refuses): bad input, not a bug.
        InvalidDataException => Usage(ex.Message),
        FileNotFoundException fnf => new(Shown(fnf.FileName ?? QuotedPath(fnf.Message)), null, null, "not found", CliApp.ExitBadInput),
        DirectoryNotFoundException => Io(ex, "directory not found"),
        UnauthorizedAccessException => Io(ex, "permission denied"),
        IOException => Io(ex, null),
        OperationCanceledException => Usage("cancelled"),
        // A bug of ours, not bad input: one line all the same; MLC_DEBUG=1 shows the trace.
        _ => new(null, null, null, $"internal error ({ex.GetType().Name}): {ex.Message}", CliApp.ExitInternal),
    };

    /// <summary>
    /// An I/O failure: on Unix .NET words errno failures as "STRERROR : 'PATH'" (or names the path in
    /// quotes); the file is that path and the reason the strerror text, lower-cased like ours.
    /// </summary>
    private static CliError Io(Exception ex, string? reason)
    {
        string? path = QuotedPath(ex.Message);
        if (reason is null)
        {
            var m = ErrnoText().Match(ex.Message);
            reason = m.Success ? LowerFirst(m.Groups[1].Value.Trim()) : ErrnoReason(ex.HResult);
        }
        return new(Shown(path), null, null, reason, CliApp.ExitBadInput);
    }

    /// <summary>
    /// .NET's IOException on Unix carries the errno as HResult when it words the failure itself
    /// ("The file '...' already exists."): the strerror(3) meaning, in our words.
    /// </summary>
    private static string ErrnoReason(int errno) => errno switch
    {
        2 => "not found",
        13 => "permission denied",
        17 => "exists and is not a directory",
        20 => "not a directory",
        21 => "is a directory",
        28 => "no space left on device",
        30 => "read-only file system",
        36 => "file name too long",
        _ => "input/output error",
    };

    private static string? QuotedPath(string message)
    {
        var m = Quoted().Match(message);
        return m.Success ? m.Groups[1].Value : null;
    }

    /// <summary>
    /// A path as the user knows it: <c>DIR/.NAME.mlconvert-PID-HEX.tmp</c> (or <c>.old</c>, or the
    /// lock file) is shown as <c>DIR/NAME</c>, the output the temporary stands for (AtomicFile's names).
    /// </summary>
    internal static string? Shown(string? path)
    {
        if (path is null) return null;
        string name = Path.GetFileName(path);
        var m = TempName().Match(name);
        if (!m.Success) return path;
        string? dir = Path.GetDirectoryName(path);
        return string.IsNullOrEmpty(dir) ? m.Groups[1].Value : Path.Combine(dir, m.Groups[1].Value);
    }

    private static string LowerFirst(string s) => s.Length > 1 && char.IsUpper(s[0]) && !char.IsUpper(s[1]) ? char.ToLowerInvariant(s[0]) + s[1..] : s;

    [GeneratedRegex(@"'([^']*)'")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"^(.+?) : '[^']*'")]
    private static partial Regex ErrnoText();

    // AtomicFile.Marker is ".mlconvert-": temporaries are .NAME.mlconvert-PID-HEX.tmp/.old, the lock .NAME.mlconvert.lock.
    [GeneratedRegex(@"^\.(.+)\.mlconvert(?:-[0-9]+-[0-9a-f]+\.(?:tmp|old)|\.lock)$")]
    private static partial Regex TempName();
}
