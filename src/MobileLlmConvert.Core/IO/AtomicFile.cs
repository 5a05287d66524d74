using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// Outputs appear complete or not at all, and a killed run never costs the user the previous output.
/// Files are written to a temporary sibling, flushed, then renamed over the target (rename(2) is
/// atomic). Directories (bundles) are built aside, then swapped in under a lock with a backup:
/// <list type="number">
/// <item>build <c>.NAME.mlconvert-PID-GUID.tmp</c> completely (every file flushed);</item>
/// <item>take <c>.NAME.mlconvert.lock</c> (flock), recover what killed runs left (below);</item>
/// <item>rename NAME to <c>.NAME.mlconvert-PID-GUID.old</c>, rename the temporary to NAME, delete the backup.</item>
/// </list>
/// At every instant NAME is the complete old output or the complete new one, except between the two
/// renames, when it is absent and the backup holds the old one: the next run that takes the lock
/// renames a backup back when NAME is absent and deletes it when NAME is present (every backup seen
/// under the lock belongs to a dead run, since its writer held the lock). Temporaries of dead
/// processes that are older than this process are deleted on the next write beside them.
/// formats/mobile/SPEC.md, "Bundle replacement", describes the protocol for other implementations.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Part of every temporary name: what makes a leftover recognisably ours.</summary>
    public const string Marker = ".mlconvert-";
    public const string TempSuffix = ".tmp";
    public const string BackupSuffix = ".old";
    public const string LockSuffix = ".mlconvert.lock";

    /// <summary>How long a writer waits for another writer of the same output to finish its swap (which takes milliseconds).</summary>
    public static readonly TimeSpan LockWait = TimeSpan.FromSeconds(60);

    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        Directory.CreateDirectory(dir);
        CleanStaleTemporaries(dir, name);
        var temp = Path.Combine(dir, NewName(name, TempSuffix));
        try
        {
            using (var stream = new WriteBackFileStream(temp))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            DeleteEntry(temp);
            throw;
        }
    }

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Builds a directory aside, then swaps it into place by the protocol in the class remarks.</summary>
    public static void WriteDirectory(string path, Action<string> build)
    {
        var full = Path.GetFullPath(path.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        var parent = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        Directory.CreateDirectory(parent);
        using (Lock(parent, name)) Recover(parent, name, full);
        CleanStaleTemporaries(parent, name);

        var temp = Path.Combine(parent, NewName(name, TempSuffix));
        Directory.CreateDirectory(temp);
        try
        {
            build(temp);
        }
        catch
        {
            DeleteEntry(temp);
            throw;
        }
        var backup = Path.Combine(parent, NewName(name, BackupSuffix));
        try
        {
            using var held = Lock(parent, name);
            Recover(parent, name, full);
            if (!Exists(full))
            {
                Rename(temp, full);
                return;
            }
            Rename(full, backup);
            try
            {
                Rename(temp, full);
            }
            catch
            {
                Rename(backup, full);
                throw;
            }
            DeleteEntry(backup);
        }
        finally
        {
            DeleteEntry(temp);
        }
    }

    private static bool Exists(string path) => Path.Exists(path) || new FileInfo(path).LinkTarget is not null;

    /// <summary>rename(2) of a directory, a file or a link (a --force replacement may meet any of them).</summary>
    private static void Rename(string from, string to)
    {
        if (Directory.Exists(from) && new DirectoryInfo(from).LinkTarget is null) Directory.Move(from, to);
        else File.Move(from, to);
    }

    /// <summary>Under the lock: puts back the old output a killed run moved aside, or drops backups whose swap completed.</summary>
    private static void Recover(string parent, string name, string full)
    {
        var backups = Leftovers(parent, name, backup: true).OrderByDescending(p => new FileInfo(p).LastWriteTimeUtc).ToList();
        foreach (var backup in backups)
        {
            if (!Exists(full)) Rename(backup, full);
            else DeleteEntry(backup);
        }
    }

    /// <summary>Deletes temporaries of NAME left by processes that are gone and started before this one.</summary>
    private static void CleanStaleTemporaries(string parent, string name)
    {
        foreach (var temp in Leftovers(parent, name, backup: false))
        {
            if (PidOf(name, Path.GetFileName(temp)) is ({ } pid, _) && !PosixFile.IsAlive(pid) && new FileInfo(temp).LastWriteTimeUtc < PosixFile.ProcessStartUtc)
                DeleteEntry(temp);
        }
    }

    private static List<string> Leftovers(string parent, string name, bool backup)
    {
        string head = "." + name + ".";
        return Directory.EnumerateFileSystemEntries(parent)
            .Where(p => Path.GetFileName(p) is { } n && n.StartsWith(head, StringComparison.Ordinal) && PidOf(name, n) is (_, var isBackup) && isBackup == backup)
            .Order(StringComparer.Ordinal).ToList();
    }

    private static string NewName(string name, string suffix) => $".{name}{Marker}{Environment.ProcessId}-{Guid.NewGuid():N}{suffix}";

    /// <summary>
    /// The writer's pid and whether the entry is a backup, for our names: <c>.NAME.mlconvert-PID-HEX.tmp</c>
    /// and <c>.NAME.mlconvert-PID-HEX.old</c>, and those of versions before the swap protocol,
    /// <c>.NAME.PID.HEX32.tmp</c> and <c>.NAME.PID.HEX32.tmp.old</c> (so their leftovers are cleaned too).
    /// </summary>
    private static (int Pid, bool Backup)? PidOf(string name, string fileName)
    {
        var rest = fileName.AsSpan(name.Length + 2);
        char separator = '.';
        if (rest.StartsWith(Marker.AsSpan(1), StringComparison.Ordinal))
        {
            rest = rest[(Marker.Length - 1)..];
            separator = '-';
        }
        int cut = rest.IndexOf(separator);
        if (cut <= 0 || !int.TryParse(rest[..cut], System.Globalization.NumberStyles.None, null, out int pid)) return null;
        var tail = rest[(cut + 1)..];
        bool legacy = separator == '.';
        string tempEnd = TempSuffix, backupEnd = legacy ? TempSuffix + BackupSuffix : BackupSuffix;
        bool backup = tail.EndsWith(backupEnd, StringComparison.Ordinal);
        if (!backup && !tail.EndsWith(tempEnd, StringComparison.Ordinal)) return null;
        var hex = tail[..^(backup ? backupEnd.Length : tempEnd.Length)];
        if (hex.Length == 0 || (legacy && hex.Length != 32) || hex.IndexOfAnyExcept("0123456789abcdef") >= 0) return null;
        return (pid, backup);
    }

    /// <summary>
    /// An exclusive flock(2) on <c>.NAME.mlconvert.lock</c>, unlinked on release. A waiter that
    /// locked a file the previous holder had just unlinked sees that the path no longer names it and
    /// tries again, so two writers never both hold the lock.
    /// </summary>
    private static LockHandle Lock(string parent, string name)
    {
        string path = Path.Combine(parent, "." + name + LockSuffix);
        var deadline = DateTime.UtcNow + LockWait;
        while (true)
        {
            FileStream? stream = null;
            try
            {
                stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
                if (PosixFile.SameFile(stream.SafeFileHandle, path)) return new LockHandle(stream, path);
                stream.Dispose();
            }
            catch (IOException e) when (e.HResult is EWouldBlockLinux or EWouldBlockBsd)
            {
                stream?.Dispose();
                if (DateTime.UtcNow > deadline)
                    throw new OutputException(OutputError.Busy, Path.Combine(parent, name), "lock", path, $"another mlconvert has been writing this output for over {LockWait.TotalSeconds:0} s");
                Thread.Sleep(20);
            }
        }
    }

    // .NET reports a held flock as an IOException whose HResult is the raw errno EWOULDBLOCK.
    private const int EWouldBlockLinux = 11;
    private const int EWouldBlockBsd = 35;

    private sealed class LockHandle(FileStream stream, string path) : IDisposable
    {
        public void Dispose()
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            stream.Dispose();
        }
    }

    private static void DeleteEntry(string path)
    {
        try
        {
            if (Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null) Directory.Delete(path, recursive: true);
            else File.Delete(path);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
