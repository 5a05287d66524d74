using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// The one way an input file is opened: only a regular file (symlinks followed, as the Hugging Face
/// cache uses them) is opened, and its type is checked before open(2), because opening a FIFO
/// blocks until a writer appears and /dev/zero never ends. A type swap between the check and the
/// open is caught by checking the opened handle again.
/// </summary>
internal static class InputFile
{
    /// <summary>Throws <see cref="InputFileException"/> unless <paramref name="path"/> is a regular file (a missing file gives <see cref="FileNotFoundException"/>).</summary>
    public static void RequireRegular(string path)
    {
        var kind = PosixFile.Kind(path);
        if (kind == FileKind.Missing) throw new FileNotFoundException($"{path}: not found", path);
        if (kind != FileKind.Regular)
            throw new InputFileException(InputFileError.NotRegularFile, path, "file type", Describe(kind), "only regular files are read (not FIFOs, devices, sockets or directories)");
    }

    public static FileStream OpenRead(string path, int bufferSize = 4096, FileOptions options = FileOptions.None)
    {
        RequireRegular(path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize, options);
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw new InputFileException(InputFileError.NotRegularFile, path, "file type", "not seekable", "the file changed type while it was opened");
        }
        return stream;
    }

    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Fifo => "FIFO",
        FileKind.CharDevice => "character device",
        FileKind.BlockDevice => "block device",
        FileKind.Socket => "socket",
        FileKind.Directory => "directory",
        FileKind.Symlink => "symlink",
        FileKind.Regular => "regular file",
        FileKind.Missing => "(absent)",
        _ => "unknown file type",
    };
}
