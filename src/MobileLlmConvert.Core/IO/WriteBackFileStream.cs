namespace MobileLlmConvert.Core.IO;

/// <summary>
/// A new output file that starts the kernel's write-back of every <see cref="ChunkBytes"/> it writes
/// (sync_file_range, <see cref="PageAdvice.StartWriteBack"/>) instead of leaving gigabytes of dirty
/// pages for the final fsync: the disk writes while the next tensors are computed, and the flush at
/// the end has little left to do. The bytes written are exactly those of a plain FileStream.
/// </summary>
internal sealed class WriteBackFileStream(string path) : FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferBytes)
{
    /// <summary>Write-back is started per this many bytes: large enough to be one efficient disk write, small against a model.</summary>
    public const long ChunkBytes = 64L << 20;

    private const int BufferBytes = 1 << 20;

    /// <summary>Bytes [0, _started) have been handed to write-back.</summary>
    private long _started;

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        base.Write(buffer);
        StartWriteBackIfDue();
    }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count)
    {
        base.Write(buffer, offset, count);
        StartWriteBackIfDue();
    }

    private void StartWriteBackIfDue()
    {
        long position = Position;
        if (position - _started < ChunkBytes) return;
        base.Flush();
        PageAdvice.StartWriteBack(SafeFileHandle, _started, position - _started);
        _started = position;
    }
}
