using System.CommandLine;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert.Cli.Infrastructure;

public enum OutputKind
{
    /// <summary>One file (convert): a single-file output of a registered format (GGUF, mobile).</summary>
    ModelFile,
    /// <summary>A directory output of a registered format: a bundle (hf2mobile, convert --to bundle).</summary>
    Bundle,
    /// <summary>A checkpoint directory (synth).</summary>
    Checkpoint,
    /// <summary>An HTML report (diff --report).</summary>
    Report,
}

/// <summary>
/// Where a writing verb may write (docs/cli.md, "Where outputs go"). Paths are compared after every
/// symlink is resolved. Never, even with --force: the input, anything holding an input (an ancestor
/// of it), anything inside an input directory, the working directory or an ancestor of it.
/// Without --force an existing output is replaced only when it is a previous artifact of ours: a
/// bundle directory with our manifest, a model file with our mobile magic, a GGUF carrying our
/// mobilellmconvert.* keys, or an empty directory.
/// </summary>
public static class OutputSafety
{
    public static Option<bool> ForceOption() =>
        new("--force") { Description = "replace an existing output even when it is not a previous output of mlconvert (never an input or the working directory)" };

    public static void Check(string output, OutputKind kind, IEnumerable<string> inputs, bool force)
    {
        string real = PosixFile.RealPath(output);
        string cwd = PosixFile.RealPath(Environment.CurrentDirectory);
        if (PosixFile.IsSameOrBelow(cwd, real))
            throw Refuse(OutputError.WouldOverwriteInput, output, real, "is the working directory or an ancestor of it; refusing to replace it");
        foreach (var input in inputs)
        {
            string source = PosixFile.RealPath(input);
            if (PosixFile.IsSameOrBelow(source, real))
                throw Refuse(OutputError.WouldOverwriteInput, output, real, $"is the input {input} or holds it; refusing to replace an input");
            if (PosixFile.IsSameOrBelow(real, source))
                throw Refuse(OutputError.WouldOverwriteInput, output, real, $"lies inside the input {input}; refusing to write into an input");
        }
        var existing = PosixFile.Kind(output, followLinks: false);
        if (existing == FileKind.Missing || force || IsOurs(output, kind, existing)) return;
        string what = kind switch
        {
            OutputKind.Bundle => "a bundle of ours (manifest.json) or an empty directory",
            OutputKind.ModelFile => "a model file of ours (GGUF with mobilellmconvert.* keys, or the mobile magic)",
            OutputKind.Report => "a diff report of ours",
            _ => "an empty directory",
        };
        throw Refuse(OutputError.ExistsNotOurs, output, InputFile.Describe(PosixFile.Kind(output)),
            $"exists and is not {what}; pass --force to replace it");
    }

    /// <summary>Each registered writable format says what an earlier output of its own looks like.</summary>
    private static bool IsOurs(string output, OutputKind kind, FileKind type)
    {
        if (type == FileKind.Directory && kind is (OutputKind.Bundle or OutputKind.Checkpoint) && !Directory.EnumerateFileSystemEntries(output).Any()) return true;
        return kind switch
        {
            OutputKind.Bundle => type == FileKind.Directory && ModelFormats.Writable.Any(f => f.IsDirectory && f.IsOwnOutput(output)),
            OutputKind.ModelFile => type == FileKind.Regular && ModelFormats.Writable.Any(f => !f.IsDirectory && f.IsOwnOutput(output)),
            OutputKind.Report => type == FileKind.Regular && Reports.DiffReport.IsOwnReport(output),
            _ => false,
        };
    }

    private static OutputException Refuse(OutputError kind, string output, string value, string reason) =>
        new(kind, output, "--output", value, reason);
}
