using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MobileLlmConvert.Core.IO;

/// <summary>What a path names, as stat(2) reports it (S_IFMT of st_mode).</summary>
internal enum FileKind
{
    Missing,
    Regular,
    Directory,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Unknown,
}

/// <summary>
/// The few POSIX facts .NET does not expose: a file's type before it is opened (opening a FIFO
/// blocks until a writer appears, so the type must be known first), the canonical path with every
/// symlink resolved (realpath(3)), and whether a process id is alive.
/// </summary>
/// <remarks>
/// statx(2) is used rather than stat(2) because its struct has one layout on every Linux
/// architecture (linux/include/uapi/linux/stat.h: stx_mode is the u16 at byte 28); glibc exports it
/// since 2.28. Elsewhere the answers fall back to what <see cref="FileSystemInfo"/> can tell.
/// </remarks>
internal static unsafe class PosixFile
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxBufferBytes = 256;
    private const int StxModeOffset = 28;
    private const uint StatxIno = 0x100;
    private const int StxInoOffset = 32;
    private const int AtEmptyPath = 0x1000;

    // Loaded by soname, not "libc": the unversioned libc.so is a linker script that exists only
    // where development packages are installed. Absent functions leave the pointers null and the
    // answers fall back to FileSystemInfo.
    private static readonly nint Libc = LoadLibc();
    private static readonly delegate* unmanaged<int, byte*, int, uint, byte*, int> StatxFn =
        (delegate* unmanaged<int, byte*, int, uint, byte*, int>)Export("statx");
    private static readonly delegate* unmanaged<byte*, byte*, byte*> RealpathFn = (delegate* unmanaged<byte*, byte*, byte*>)Export("realpath");
    private static readonly delegate* unmanaged<void*, void> FreeFn = (delegate* unmanaged<void*, void>)Export("free");

    private static nint LoadLibc()
    {
        if (OperatingSystem.IsWindows()) return 0;
        foreach (var name in new[] { "libc.so.6", "libc", "/usr/lib/libSystem.B.dylib" })
        {
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        }
        return 0;
    }

    /// <summary>The address of libc function <paramref name="name"/>, or 0 where there is none (not Linux/macOS, or an old libc).</summary>
    internal static nint Export(string name) => Libc != 0 && NativeLibrary.TryGetExport(Libc, name, out var f) ? f : 0;

    private static int StatX(int dirfd, string path, int flags, uint mask, byte* buffer)
    {
        fixed (byte* p = Utf8(path)) return StatxFn(dirfd, p, flags, mask, buffer);
    }

    private static byte[] Utf8(string s)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    private static readonly bool _noStatx = !OperatingSystem.IsLinux() || StatxFn == null;

    /// <summary>The kind of file <paramref name="path"/> names; <paramref name="followLinks"/> false reports a symlink itself.</summary>
    public static FileKind Kind(string path, bool followLinks = true)
    {
        if (!_noStatx)
        {
            byte* buffer = stackalloc byte[StatxBufferBytes];
            if (StatX(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, buffer) != 0) return FileKind.Missing;
            ushort mode = *(ushort*)(buffer + StxModeOffset);
            return (mode & 0xF000) switch
            {
                0x8000 => FileKind.Regular,
                0x4000 => FileKind.Directory,
                0xA000 => FileKind.Symlink,
                0x1000 => FileKind.Fifo,
                0x2000 => FileKind.CharDevice,
                0x6000 => FileKind.BlockDevice,
                0xC000 => FileKind.Socket,
                _ => FileKind.Unknown,
            };
        }
        FileSystemInfo info = new FileInfo(path);
        if (!followLinks && info.Exists && info.LinkTarget is not null) return FileKind.Symlink;
        if (Directory.Exists(path)) return FileKind.Directory;
        return File.Exists(path) ? FileKind.Regular : FileKind.Missing;
    }

    /// <summary>
    /// True when <paramref name="path"/> still names the file <paramref name="handle"/> has open (same
    /// inode), false when it was unlinked or replaced meanwhile. Without statx (not Linux) assumes true.
    /// </summary>
    public static bool SameFile(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string path)
    {
        if (_noStatx) return true;
        byte* a = stackalloc byte[StatxBufferBytes];
        byte* b = stackalloc byte[StatxBufferBytes];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            if (StatX(fd, "", AtEmptyPath, StatxIno, a) != 0) return false;
            if (StatX(AtFdCwd, path, AtSymlinkNoFollow, StatxIno, b) != 0) return false;
            return *(ulong*)(a + StxInoOffset) == *(ulong*)(b + StxInoOffset);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>
    /// The canonical absolute path: every symlink and "." / ".." resolved. For a path that does not
    /// exist yet, its longest existing ancestor is resolved and the rest appended.
    /// </summary>
    public static string RealPath(string path)
    {
        string full = Path.GetFullPath(path);
        var rest = new Stack<string>();
        string? existing = full;
        while (existing is not null && Kind(existing, followLinks: false) == FileKind.Missing)
        {
            rest.Push(Path.GetFileName(existing));
            existing = Path.GetDirectoryName(existing);
        }
        string resolved = existing is null ? Path.GetPathRoot(full)! : Resolve(existing);
        while (rest.Count > 0) resolved = Path.Combine(resolved, rest.Pop());
        return resolved;
    }

    private static string Resolve(string existing)
    {
        if (RealpathFn != null && FreeFn != null)
        {
            byte* p;
            fixed (byte* path = Utf8(existing)) p = RealpathFn(path, null);
            if (p != null)
            {
                try { return Marshal.PtrToStringUTF8((nint)p)!; }
                finally { FreeFn(p); }
            }
        }
        var info = new FileInfo(existing);
        return info.LinkTarget is not null ? info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? existing : existing;
    }

    /// <summary>True when <paramref name="inner"/> is <paramref name="outer"/> or lies below it (both canonical).</summary>
    public static bool IsSameOrBelow(string inner, string outer)
    {
        string o = outer.TrimEnd(Path.DirectorySeparatorChar);
        return inner == o || inner.StartsWith(o + Path.DirectorySeparatorChar, StringComparison.Ordinal) || o.Length == 0;
    }

    /// <summary>True when a process with this id runs now (it may be a later process that reused the id).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>When this process started (UTC): leftovers of ours older than this belong to earlier runs.</summary>
    public static DateTime ProcessStartUtc { get; } = Process.GetCurrentProcess().StartTime.ToUniversalTime();
}
