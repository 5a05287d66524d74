using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using MobileLlmConvert.Core.IO;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>
/// The source checkpoint hash a bundle manifest records: SHA-256 over exactly the files the
/// importer read to build the model (<c>ModelIr.SourceFiles</c>: config.json, the tokenizer files,
/// the shard index and the weight files it opened). Nothing else in the directory is opened, so an
/// unused <c>*.bin</c>, a FIFO or a huge unrelated file beside a checkpoint cannot change the hash
/// or stall the run. For each file, in ordinal order of its path relative to the checkpoint
/// directory ('/'-separated), the hash takes the UTF-8 name, one zero byte, the length as a
/// little-endian u64, then the bytes: the framing makes the digest depend on which file holds which
/// bytes, not just on their concatenation. Files are streamed through a fixed 1 MiB buffer.
/// </summary>
internal static class CheckpointHash
{
    private const int BufferBytes = 1 << 20;

    /// <summary>The names <see cref="Compute"/> hashes, in the order it hashes them.</summary>
    public static IReadOnlyList<string> Names(string checkpointDir, IEnumerable<string> files) =>
        files.Select(f => Name(checkpointDir, f)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Lower-case hex SHA-256 of the listed files of a checkpoint (see the class remarks). Reports
    /// stage "hash" (files done of files listed, the file name) after each file: a checkpoint of
    /// several GB takes seconds to hash.
    /// </summary>
    public static string Compute(string checkpointDir, IEnumerable<string> files, IProgress<ConversionProgress>? progress = null)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[BufferBytes];
        Span<byte> frame = stackalloc byte[9];
        var names = Names(checkpointDir, files);
        for (int i = 0; i < names.Count; i++)
        {
            string name = names[i];
            using var stream = InputFile.OpenRead(Path.Combine(checkpointDir, name), 1, FileOptions.SequentialScan);
            long length = stream.Length;
            hash.AppendData(Encoding.UTF8.GetBytes(name));
            frame[0] = 0;
            BinaryPrimitives.WriteUInt64LittleEndian(frame[1..], (ulong)length);
            hash.AppendData(frame);
            AppendExactly(hash, stream, Path.Combine(checkpointDir, name), length, buffer);
            progress?.Report(new ConversionProgress("hash", i + 1, names.Count, name));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Lower-case hex SHA-256 of one regular file's bytes (bundle manifests), streamed.</summary>
    public static string FileSha256(string path)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var stream = InputFile.OpenRead(path, 1, FileOptions.SequentialScan);
        AppendExactly(hash, stream, path, stream.Length, new byte[BufferBytes]);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Hashes exactly the length seen at open: a file that grows or shrinks meanwhile is an error, not a different hash.</summary>
    private static void AppendExactly(IncrementalHash hash, FileStream stream, string path, long length, byte[] buffer)
    {
        long left = length;
        while (left > 0)
        {
            int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n <= 0) break;
            hash.AppendData(buffer, 0, n);
            left -= n;
        }
        if (left != 0 || stream.Length != length)
            throw new Core.Errors.InputFileException(Core.Errors.InputFileError.ChangedWhileReading, path, "size",
                $"{stream.Length} bytes (was {length})", "input changed while reading");
    }

    private static string Name(string dir, string file)
    {
        string relative = Path.GetRelativePath(Path.GetFullPath(dir), Path.GetFullPath(file)).Replace(Path.DirectorySeparatorChar, '/');
        if (relative == ".." || relative.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(relative))
            throw new ArgumentException($"{file} is not inside the checkpoint directory {dir}", nameof(file));
        return relative;
    }
}
