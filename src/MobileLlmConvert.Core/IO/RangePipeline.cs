using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// Writes the bytes of sources that read in ranges (<see cref="TensorSource.CanCopyRanges"/>), one
/// after the other, into a file at their positions: every core takes the next <see cref="ChunkBytes"/>
/// of the stream, fills its own buffer and writes it itself (pwrite), so one core computes while the
/// other writes. Nothing is sized by a tensor: memory is one chunk per core whatever the model.
/// Large outputs bypass the page cache (<see cref="DirectIo"/>); through the page cache, a chunk is
/// copied while it is still in the cache of the core that made it (measured with dd: 3.5-7 s of
/// system time to write 3 GB from 8 MiB buffers, 0.5-1.5 s from 1 MiB ones).
/// </summary>
internal static class RangePipeline
{
    /// <summary>Bytes a core computes and writes at a time: fits its L2 beside the page-cache destination, and is enough work to amortise a claim.</summary>
    public const int ChunkBytes = 1 << 20;

    /// <summary>Write-back is started per this many bytes, as <see cref="WriteBackFileStream"/> does for sequential writers.</summary>
    public const long WriteBackBytes = 64L << 20;

    /// <summary>Receives bytes [offset, offset + bytes.Length) of the concatenated sources; called on several threads at once, for disjoint ranges, in no particular order.</summary>
    public delegate void Writer(long offset, ReadOnlySpan<byte> bytes);

    /// <summary>Outputs at least this large are written with direct I/O where the file system allows it (<see cref="DirectIo"/>); smaller ones are not worth leaving the page cache for.</summary>
    public const long DirectFromBytes = 64L << 20;

    /// <summary>
    /// Writes the concatenated sources as the whole content of the new, empty <paramref name="file"/>
    /// (pwrite at their positions). From <paramref name="directFrom"/> bytes on the writes bypass the
    /// page cache (<see cref="DirectIo"/>; the last chunk is padded to the alignment and the file cut
    /// back to its length); otherwise, and where direct I/O is refused, they go through the page cache
    /// with the kernel's write-back started per completed <see cref="WriteBackBytes"/>, so the caller's
    /// final fsync has little left to do. The file holds exactly the bytes a sequential write gives.
    /// Returns whether direct I/O was used.
    /// </summary>
    public static bool WriteTo(SafeFileHandle file, IReadOnlyList<TensorSource> sources, long directFrom = DirectFromBytes)
    {
        long total = sources.Sum(s => s.Length);
        if (total >= directFrom && DirectIo.TryEnable(file))
        {
            // The final length first (rounded up to the alignment), so no write extends the file:
            // ext4 serialises direct writes that extend a file or fill a hole under its inode lock,
            // for the whole I/O (fs/ext4/file.c, ext4_dio_write_checks); writes into blocks the
            // caller preallocated (fallocate) run side by side.
            RandomAccess.SetLength(file, (total + DirectIo.Alignment - 1) / DirectIo.Alignment * DirectIo.Alignment);
            Run(sources, (offset, bytes) => RandomAccess.Write(file, bytes, offset), align: DirectIo.Alignment);
            RandomAccess.SetLength(file, total);
            return true;
        }
        Run(sources, (offset, bytes) =>
        {
            RandomAccess.Write(file, bytes, offset);
            // When a chunk crosses a window boundary, the window before the one it ends is complete
            // (every core is at most one chunk behind the newest): hand that window to write-back.
            long end = offset + bytes.Length;
            if (end / WriteBackBytes > offset / WriteBackBytes && end / WriteBackBytes >= 2)
                PageAdvice.StartWriteBack(file, (end / WriteBackBytes - 2) * WriteBackBytes, WriteBackBytes);
        });
        return false;
    }

    /// <summary>
    /// Hands <paramref name="write"/> every byte of every source once, in chunks of at most
    /// <see cref="ChunkBytes"/> (a chunk may span several small sources), from <paramref name="workers"/>
    /// threads, the calling one among them, each chunk in memory aligned to <paramref name="align"/>.
    /// The last chunk is padded with zeros to a multiple of <paramref name="align"/>. The first
    /// exception of a source or of the writer stops the run and is rethrown as itself once every
    /// thread has stopped (nothing reads a source after this returns).
    /// </summary>
    public static void Run(IReadOnlyList<TensorSource> sources, Writer write, int workers = 0, int align = 1)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(write);
        if (align < 1 || align > ChunkBytes || ChunkBytes % align != 0) throw new ArgumentOutOfRangeException(nameof(align), align, $"must divide {ChunkBytes}");
        var starts = new long[sources.Count + 1];
        for (int i = 0; i < sources.Count; i++)
        {
            if (!sources[i].CanCopyRanges) throw new ArgumentException($"{sources[i].GetType().Name} cannot be read in ranges", nameof(sources));
            starts[i + 1] = checked(starts[i] + sources[i].Length);
        }
        long total = starts[^1];
        long chunks = (total + ChunkBytes - 1) / ChunkBytes;
        if (workers <= 0) workers = Environment.ProcessorCount;
        workers = (int)Math.Max(1, Math.Min(workers, chunks));
        var run = new State(sources, starts, write, chunks, align);
        var threads = new Thread[workers - 1];
        for (int i = 0; i < threads.Length; i++)
        {
            threads[i] = new Thread(run.Work) { IsBackground = true, Name = "mlconvert range writer" };
            threads[i].Start();
        }
        run.Work();
        foreach (var t in threads) t.Join();
        run.Error?.Throw();
    }

    private sealed unsafe class State(IReadOnlyList<TensorSource> sources, long[] starts, Writer write, long chunks, int align)
    {
        private long _next;
        /// <summary>Bytes of each source not yet written: the one that reaches zero releases the source's pages.</summary>
        private readonly long[] _left = [.. sources.Select(s => s.Length)];
        private volatile bool _failed;
        private ExceptionDispatchInfo? _error;

        public ExceptionDispatchInfo? Error => _error;

        public void Work()
        {
            // Native memory: aligned for direct I/O, and never moved or scanned by the GC.
            byte* buffer = null;
            try
            {
                while (!_failed)
                {
                    long k = Interlocked.Increment(ref _next) - 1;
                    if (k >= chunks) break;
                    long from = k * ChunkBytes;
                    int length = (int)Math.Min(ChunkBytes, starts[^1] - from);
                    int padded = (length + align - 1) / align * align;
                    if (buffer == null) buffer = (byte*)NativeMemory.AlignedAlloc(ChunkBytes, (nuint)Math.Max(align, sizeof(long)));
                    var chunk = new Span<byte>(buffer, padded);
                    Fill(from, chunk[..length]);
                    chunk[length..].Clear();
                    write(from, chunk);
                    Release(from, length);
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                _failed = true;
            }
            finally
            {
                NativeMemory.AlignedFree(buffer);
            }
        }

        /// <summary>Bytes [from, from + dst.Length) of the stream, from each source they overlap.</summary>
        private void Fill(long from, Span<byte> dst)
        {
            int i = First(from);
            for (int done = 0; done < dst.Length; i++)
            {
                var source = sources[i];
                long offset = from + done - starts[i];
                int n = (int)Math.Min(dst.Length - done, source.Length - offset);
                if (n <= 0) continue;
                if (offset == 0) source.Prefetch();
                source.CopyRange(offset, dst.Slice(done, n));
                done += n;
            }
        }

        private void Release(long from, int length)
        {
            for (int i = First(from); i < sources.Count && starts[i] < from + length; i++)
            {
                long n = Math.Min(from + length, starts[i + 1]) - Math.Max(from, starts[i]);
                if (n > 0 && Interlocked.Add(ref _left[i], -n) == 0) sources[i].ReleasePages();
            }
        }

        /// <summary>The source holding stream byte <paramref name="at"/> (the last of several starting there: empty ones hold nothing).</summary>
        private int First(long at)
        {
            int i = Array.BinarySearch(starts, 0, sources.Count, at);
            if (i < 0) return ~i - 1;
            while (i + 1 < sources.Count && starts[i + 1] == at) i++;
            return i;
        }
    }
}
