using System.IO.MemoryMappedFiles;

namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// Where a tensor's bytes come from. Nothing reads them until asked: a mapped slice costs nothing,
/// a computed source (a permutation, a quantization) runs only when a writer or the executor asks,
/// so a conversion streams tensor by tensor.
/// </summary>
public abstract class TensorSource
{
    /// <summary>Number of bytes the source provides.</summary>
    public abstract long Length { get; }

    /// <summary>Copies every byte into <paramref name="destination"/> (exactly <see cref="Length"/> bytes).</summary>
    public abstract void CopyTo(Span<byte> destination);

    /// <summary>A zero-copy view when the bytes already exist in memory; false for computed sources.</summary>
    public virtual bool TryGetSpan(out ReadOnlySpan<byte> span)
    {
        span = default;
        return false;
    }

    /// <summary>The bytes as a span: zero-copy where possible, otherwise materialized once into a new array.</summary>
    public ReadOnlySpan<byte> Read()
    {
        if (TryGetSpan(out var span)) return span;
        return ToArray();
    }

    /// <summary>The bytes copied into a new array.</summary>
    public byte[] ToArray()
    {
        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)Length));
        CopyTo(bytes);
        return bytes;
    }

    /// <summary>
    /// Whether <see cref="CopyRange"/> reads part of the bytes without producing the rest: true for a
    /// file slice or bytes in memory, false for a computed source (it makes whole tensors only). Lets
    /// a conversion read a large tensor in row blocks through small buffers instead of one whole copy.
    /// </summary>
    public virtual bool CanCopyRanges => false;

    /// <summary>Copies bytes [offset, offset + destination.Length); only when <see cref="CanCopyRanges"/>.</summary>
    public virtual void CopyRange(long offset, Span<byte> destination)
    {
        if (!CanCopyRanges || !TryGetSpan(out var span)) throw new NotSupportedException($"{GetType().Name} cannot read part of its bytes");
        if (offset < 0 || offset > span.Length || destination.Length > span.Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{destination.Length} outside a source of {span.Length} bytes");
        span.Slice((int)offset, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// Bytes per unit a ranged read is cheapest in (a computed source's output row): a reader that
    /// streams the bytes in chunks (<see cref="IO.TensorPipeline"/>) cuts them at multiples of it. 1 for a file slice.
    /// </summary>
    public virtual int RangeAlignment => 1;

    /// <summary>A hint that the bytes will be read soon (a file slice asks the kernel to read ahead); never changes what is read.</summary>
    public virtual void Prefetch()
    {
    }

    /// <summary>
    /// A hint that the reader is done with the bytes for now: a memory-mapped slice drops its pages
    /// from this process, so a conversion's resident memory does not grow to the size of the model.
    /// A later read still returns the same bytes (the pages are read back from the file).
    /// </summary>
    public virtual void ReleasePages()
    {
    }

    /// <summary>Checks a tensor byte length fits a span and returns it as an int.</summary>
    protected static int CheckLength(long length)
    {
        // Tensors are addressed with spans; a single tensor above Array.MaxLength bytes is not supported.
        if (length < 0 || length > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(length), length, "tensor byte length out of range");
        return (int)length;
    }
}

/// <summary>Bytes the process owns (fixtures, computed results that were cached on purpose).</summary>
public sealed class MemorySource(ReadOnlyMemory<byte> bytes) : TensorSource
{
    /// <inheritdoc/>
    public override long Length => bytes.Length;
    /// <inheritdoc/>
    public override void CopyTo(Span<byte> destination) => bytes.Span.CopyTo(destination);
    /// <inheritdoc/>
    public override bool CanCopyRanges => true;
    /// <inheritdoc/>
    public override bool TryGetSpan(out ReadOnlySpan<byte> span)
    {
        span = bytes.Span;
        return true;
    }
}

/// <summary>
/// Bytes computed on demand from other sources; never cached, so peak memory stays one tensor.
/// The sources it reads (<c>inputs</c>) receive its read-ahead and release hints. A source made
/// with a range fill (a row-by-row conversion of a source that reads ranges) also computes any part
/// of its bytes, so a writer streams it in bounded chunks instead of holding the whole tensor.
/// </summary>
internal sealed class ComputedSource : TensorSource
{
    private readonly long _length;
    private readonly SpanAction? _fill;
    private readonly RangeAction? _fillRange;
    private readonly int _alignment = 1;
    private readonly TensorSource[] _inputs;

    public delegate void SpanAction(Span<byte> destination);

    /// <summary>Fills bytes [offset, offset + destination.Length); both are multiples of the alignment (or end at the length).</summary>
    public delegate void RangeAction(long offset, Span<byte> destination);

    public ComputedSource(long length, SpanAction fill, params TensorSource[] inputs)
    {
        CheckLength(length);
        _length = length;
        _fill = fill;
        _inputs = inputs;
    }

    /// <summary>A source whose bytes are computed in units of <paramref name="alignment"/> bytes (rows), any range of them at a time.</summary>
    public ComputedSource(long length, int alignment, RangeAction fillRange, params TensorSource[] inputs)
    {
        CheckLength(length);
        ArgumentOutOfRangeException.ThrowIfLessThan(alignment, 1);
        _length = length;
        _alignment = alignment;
        _fillRange = fillRange;
        _inputs = inputs;
    }

    public override long Length => _length;

    public override void CopyTo(Span<byte> destination)
    {
        if (_fill is not null) _fill(destination[..(int)_length]);
        else _fillRange!(0, destination[..(int)_length]);
    }

    public override bool CanCopyRanges => _fillRange is not null;

    public override int RangeAlignment => _alignment;

    public override void CopyRange(long offset, Span<byte> destination)
    {
        if (_fillRange is null) throw new NotSupportedException($"{GetType().Name} cannot read part of its bytes");
        if (offset < 0 || offset > _length || destination.Length > _length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{destination.Length} outside a source of {_length} bytes");
        if (destination.IsEmpty) return;
        long end = offset + destination.Length;
        long alignedStart = offset / _alignment * _alignment;
        long alignedEnd = Math.Min(_length, (end + _alignment - 1) / _alignment * _alignment);
        if (alignedStart == offset && alignedEnd == end)
        {
            _fillRange(offset, destination);
            return;
        }
        // A range cut inside a unit (a hash reading fixed-size chunks): its whole units are computed
        // into a buffer at most two units larger than the range, and the range copied out.
        int span = checked((int)(alignedEnd - alignedStart));
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(span);
        try
        {
            _fillRange(alignedStart, buffer.AsSpan(0, span));
            buffer.AsSpan((int)(offset - alignedStart), destination.Length).CopyTo(destination);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override void Prefetch()
    {
        foreach (var input in _inputs) input.Prefetch();
    }

    public override void ReleasePages()
    {
        foreach (var input in _inputs) input.ReleasePages();
    }
}

/// <summary>
/// A read-only memory-mapped file. Slices of it are <see cref="MappedSource"/>s. The size and
/// modification time seen at open are kept: a file truncated under a mapping faults (SIGBUS) on the
/// next touch of a lost page, which .NET cannot turn into an exception on Linux, so readers that
/// must survive a changing input read through <see cref="ReadChecked"/> (pread(2), which returns
/// short instead of faulting) after <see cref="EnsureUnchanged"/>.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly FileStream _stream;
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly DateTime _modifiedUtc;
    private byte* _pointer;

    public string Path { get; }
    public long Length { get; }

    public MappedFile(string path)
    {
        Path = path;
        _stream = IO.InputFile.OpenRead(path, bufferSize: 1);
        try
        {
            Length = _stream.Length;
            _modifiedUtc = File.GetLastWriteTimeUtc(_stream.SafeFileHandle);
            if (Length == 0) return; // an empty file cannot be mapped; every slice of it is empty
            _map = MemoryMappedFile.CreateFromFile(_stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _pointer = p + _view.PointerOffset;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>A view of [offset, offset+length); the caller has checked the range against <see cref="Length"/>.</summary>
    public ReadOnlySpan<byte> Span(long offset, long length)
    {
        CheckRange(offset, length);
        if (length == 0) return ReadOnlySpan<byte>.Empty;
        ObjectDisposedException.ThrowIf(_pointer == null, this);
        return new ReadOnlySpan<byte>(_pointer + offset, checked((int)length));
    }

    public MappedSource Slice(long offset, long length) => new(this, offset, length);

    /// <summary>Asks the kernel to start reading [offset, offset+length) now (posix_fadvise WILLNEED).</summary>
    public void Prefetch(long offset, long length) => IO.PageAdvice.WillNeed(_stream.SafeFileHandle, offset, length);

    /// <summary>Drops this process's mapped pages of [offset, offset+length) (madvise DONTNEED); a later touch reads them back from the file.</summary>
    public void ReleaseMapped(long offset, long length)
    {
        CheckRange(offset, length);
        if (_pointer != null) IO.PageAdvice.DropMapped(_pointer + offset, length);
    }

    /// <summary>Throws <see cref="Errors.InputFileException"/> when the file's size or modification time differs from what it was at open.</summary>
    public void EnsureUnchanged()
    {
        long now = RandomAccess.GetLength(_stream.SafeFileHandle);
        if (now != Length)
            throw Changed("size", $"{now} bytes (was {Length})");
        var modified = File.GetLastWriteTimeUtc(_stream.SafeFileHandle);
        if (modified != _modifiedUtc)
            throw Changed("modification time", $"{modified:O} (was {_modifiedUtc:O})");
    }

    /// <summary>
    /// Copies [offset, offset+destination.Length) with pread(2) rather than through the mapping, so a
    /// file truncated at this very moment gives a short read (an exception) instead of SIGBUS.
    /// </summary>
    public void ReadChecked(long offset, Span<byte> destination)
    {
        CheckRange(offset, destination.Length);
        EnsureUnchanged();
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(_stream.SafeFileHandle, destination, offset);
            if (n <= 0) throw Changed("size", $"ends before byte {offset} (was {Length})");
            destination = destination[n..];
            offset += n;
        }
    }

    private Errors.InputFileException Changed(string field, string value) =>
        new(Errors.InputFileError.ChangedWhileReading, Path, field, value, "input changed while reading");

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length || length > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{length} outside file of {Length} bytes");
    }

    public void Dispose()
    {
        if (_pointer != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view?.Dispose();
        _map?.Dispose();
        _stream?.Dispose();
    }
}

/// <summary>
/// A slice of a mapped file read only through the checked path (<see cref="MappedFile.ReadChecked"/>):
/// no zero-copy span is handed out, so no consumer can touch a page the file no longer has.
/// Conversions read their inputs this way (<see cref="CheckedReads.WithCheckedReads"/>).
/// </summary>
internal sealed class CheckedFileSource(MappedSource mapped) : TensorSource
{
    public override long Length => mapped.Length;
    public override void CopyTo(Span<byte> destination) => mapped.File.ReadChecked(mapped.Offset, destination[..(int)mapped.Length]);

    public override bool CanCopyRanges => true;

    public override void CopyRange(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > mapped.Length || destination.Length > mapped.Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{destination.Length} outside a tensor of {mapped.Length} bytes");
        mapped.File.ReadChecked(checked(mapped.Offset + offset), destination);
    }

    // pread fills the page cache, not this process: there is nothing of ours to release. The cache
    // is left to the kernel (clean pages are reclaimed under pressure for free, and a rerun or a
    // verify of the same checkpoint reads it from memory).
    public override void Prefetch() => mapped.File.Prefetch(mapped.Offset, mapped.Length);
}

internal static class CheckedReads
{
    /// <summary>
    /// The same IR with every memory-mapped tensor read through pread and a size/mtime check instead
    /// of the mapping: a conversion then ends in one "input changed while reading" error, not a
    /// signal, when a file is truncated under it. Owned and computed sources are kept as they are.
    /// </summary>
    public static ModelIr WithCheckedReads(this ModelIr ir) => ir with
    {
        Tensors = ir.Tensors.Select(t => t.Source is MappedSource m ? new Tensor(t.Name, t.Shape, t.Type, new CheckedFileSource(m)) : t).ToList(),
    };
}

internal sealed class MappedSource : TensorSource
{
    public MappedFile File { get; }
    public long Offset { get; }
    private readonly int _length;

    public MappedSource(MappedFile file, long offset, long length)
    {
        _length = CheckLength(length);
        if (offset < 0 || offset > file.Length || length > file.Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{length} outside {file.Path} ({file.Length} bytes)");
        File = file;
        Offset = offset;
    }

    public override long Length => _length;
    public override void CopyTo(Span<byte> destination) => File.Span(Offset, _length).CopyTo(destination);
    public override bool TryGetSpan(out ReadOnlySpan<byte> span)
    {
        span = File.Span(Offset, _length);
        return true;
    }

    public override bool CanCopyRanges => true;
    public override void Prefetch() => File.Prefetch(Offset, _length);
    public override void ReleasePages() => File.ReleaseMapped(Offset, _length);
}
