using Microsoft.Win32.SafeHandles;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// Hints to the kernel's page cache that keep a conversion's memory flat and its I/O overlapped:
/// read-ahead on the source (posix_fadvise SEQUENTIAL / WILLNEED), dropping mapped source pages a
/// conversion is done with from this process (madvise MADV_DONTNEED: a later touch faults them back
/// in from the file, so a tensor read twice still reads right), and starting write-back of the
/// output as it is written (sync_file_range SYNC_FILE_RANGE_WRITE) so dirty pages do not pile up
/// until the final fsync. Hints only: where a function is missing (not Linux) or fails, nothing
/// happens and the result is the same bytes.
/// </summary>
/// <remarks>
/// Constants from Linux include/uapi/linux/fadvise.h (POSIX_FADV_SEQUENTIAL 2, WILLNEED 3,
/// DONTNEED 4), include/uapi/asm-generic/mman-common.h (MADV_DONTNEED 4) and
/// include/uapi/linux/fs.h (SYNC_FILE_RANGE_WRITE 2); see posix_fadvise(2), madvise(2), sync_file_range(2).
/// </remarks>
internal static unsafe class PageAdvice
{
    private const int FadvSequential = 2;
    private const int FadvWillNeed = 3;
    private const int MadvDontNeed = 4;
    private const uint SyncFileRangeWrite = 2;

    private static readonly delegate* unmanaged<int, long, long, int, int> FadviseFn =
        OperatingSystem.IsLinux() ? (delegate* unmanaged<int, long, long, int, int>)PosixFile.Export("posix_fadvise") : null;
    private static readonly delegate* unmanaged<void*, nuint, int, int> MadviseFn =
        OperatingSystem.IsLinux() ? (delegate* unmanaged<void*, nuint, int, int>)PosixFile.Export("madvise") : null;
    private static readonly delegate* unmanaged<int, long, long, uint, int> SyncFileRangeFn =
        OperatingSystem.IsLinux() ? (delegate* unmanaged<int, long, long, uint, int>)PosixFile.Export("sync_file_range") : null;

    /// <summary>The page size madvise works in (its address must be page-aligned).</summary>
    private static readonly long PageSize = Environment.SystemPageSize;

    /// <summary>The whole file will be read front to back: the kernel doubles its read-ahead window.</summary>
    public static void Sequential(SafeFileHandle file) => Fadvise(file, 0, 0, FadvSequential);

    /// <summary>[offset, offset+length) will be read soon: the kernel starts reading it now, in the background.</summary>
    public static void WillNeed(SafeFileHandle file, long offset, long length) => Fadvise(file, offset, length, FadvWillNeed);

    /// <summary>
    /// Drops the whole pages of [address, address+length) from this process's mapping. Only pages
    /// entirely inside the range go: a page shared with a neighbouring tensor stays.
    /// </summary>
    public static void DropMapped(byte* address, long length)
    {
        if (MadviseFn == null || length <= 0) return;
        long start = ((long)address + PageSize - 1) / PageSize * PageSize;
        long end = ((long)address + length) / PageSize * PageSize;
        if (end > start) MadviseFn((void*)start, (nuint)(end - start), MadvDontNeed);
    }

    /// <summary>Starts write-back of [offset, offset+length) of an output file without waiting for it.</summary>
    public static void StartWriteBack(SafeFileHandle file, long offset, long length)
    {
        if (SyncFileRangeFn == null || length <= 0) return;
        int fd = AddRef(file);
        if (fd < 0) return;
        try { SyncFileRangeFn(fd, offset, length, SyncFileRangeWrite); }
        finally { file.DangerousRelease(); }
    }

    private static void Fadvise(SafeFileHandle file, long offset, long length, int advice)
    {
        if (FadviseFn == null) return;
        int fd = AddRef(file);
        if (fd < 0) return;
        try { FadviseFn(fd, offset, length, advice); }
        finally { file.DangerousRelease(); }
    }

    /// <summary>The descriptor, held open until the caller's DangerousRelease; -1 for a closed handle (a hint on it is moot).</summary>
    private static int AddRef(SafeFileHandle file)
    {
        if (file.IsClosed) return -1;
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
        return added ? (int)file.DangerousGetHandle() : -1;
    }
}
