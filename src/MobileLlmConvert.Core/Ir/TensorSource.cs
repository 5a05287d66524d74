using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// Where a tensor's bytes come from. Nothing reads them until asked: a mapped slice costs nothing,
/// a computed source (a permutation, a quantization) runs only when a writer or the executor asks,
/// so a conversion streams tensor by tensor.
/// </summary>
public abstract class TensorSource
{
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

    public byte[] ToArray()
    {
        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)Length));
        CopyTo(bytes);
        return bytes;
    }

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
    public override long Length => bytes.Length;
    public override void CopyTo(Span<byte> destination) => bytes.Span.CopyTo(destination);
    public override bool TryGetSpan(out ReadOnlySpan<byte> span)
    {
        span = bytes.Span;
        return true;
    }
}

/// <summary>Bytes computed on demand from other sources; never cached, so peak memory stays one tensor.</summary>
public sealed class ComputedSource : TensorSource
{
    private readonly long _length;
    private readonly SpanAction _fill;

    public delegate void SpanAction(Span<byte> destination);

    public ComputedSource(long length, SpanAction fill)
    {
        CheckLength(length);
        _length = length;
        _fill = fill;
    }

    public override long Length => _length;
    public override void CopyTo(Span<byte> destination) => _fill(destination[..(int)_length]);
}

/// <summary>A read-only memory-mapped file. Slices of it are <see cref="MappedSource"/>s.</summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;

    public string Path { get; }
    public long Length { get; }

    public MappedFile(string path)
    {
        Path = path;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Length = stream.Length;
        if (Length == 0) return; // an empty file cannot be mapped; every slice of it is empty
        _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + _view.PointerOffset;
    }

    /// <summary>A view of [offset, offset+length); the caller has checked the range against <see cref="Length"/>.</summary>
    public ReadOnlySpan<byte> Span(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length || length > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{length} outside file of {Length} bytes");
        if (length == 0) return ReadOnlySpan<byte>.Empty;
        ObjectDisposedException.ThrowIf(_pointer == null, this);
        return new ReadOnlySpan<byte>(_pointer + offset, checked((int)length));
    }

    public MappedSource Slice(long offset, long length) => new(this, offset, length);

    public void Dispose()
    {
        if (_pointer != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}

public sealed class MappedSource : TensorSource
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
}

public static class TensorSourceExtensions
{
    /// <summary>Reinterprets a source's bytes as T (little-endian host assumed, as GGUF and safetensors are).</summary>
    public static ReadOnlySpan<T> ReadAs<T>(this TensorSource source) where T : struct => MemoryMarshal.Cast<byte, T>(source.Read());
}
