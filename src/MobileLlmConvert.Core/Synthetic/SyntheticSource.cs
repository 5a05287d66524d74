using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Synthetic;

/// <summary>
/// A synthetic tensor's bytes, made when read and never kept. Any value is computed from its index
/// alone (<see cref="SyntheticValues"/>), so any byte range can be produced on its own: a writer
/// streams the tensor through small buffers (<see cref="TensorSource.CanCopyRanges"/>), and a whole
/// read is spread over every core, with the same bytes either way.
/// </summary>
internal sealed class SyntheticSource : TensorSource
{
    private readonly long _count;
    private readonly ElementType _type;
    private readonly SyntheticDraws _draws;
    private readonly int _valueBytes;

    public SyntheticSource(long count, ElementType type, SyntheticDraws draws)
    {
        _valueBytes = SyntheticValues.ValueBytes(type);
        CheckLength(checked(count * _valueBytes));
        _count = count;
        _type = type;
        _draws = draws;
    }

    /// <inheritdoc />
    public override long Length => _count * _valueBytes;

    /// <inheritdoc />
    public override bool CanCopyRanges => true;

    /// <inheritdoc />
    public override unsafe void CopyTo(Span<byte> destination)
    {
        var dst = destination[..checked((int)Length)];
        fixed (byte* p = dst)
        {
            nint output = (nint)p;
            // Blocks of RowParallel.BlockBytes values' worth, each written in place: no buffer of our own.
            RowParallel.For(_count, _valueBytes, (first, count) =>
                SyntheticValues.Fill(new Span<byte>((byte*)output + first * _valueBytes, count * _valueBytes), _type, _draws.Skip(first)));
        }
    }

    /// <inheritdoc />
    public override void CopyRange(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > Length || destination.Length > Length - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range {offset}+{destination.Length} outside a tensor of {Length} bytes");
        long value = offset / _valueBytes;
        int skip = (int)(offset % _valueBytes);
        Span<byte> one = stackalloc byte[sizeof(float)];
        one = one[.._valueBytes];
        int done = 0;
        if (skip != 0 && destination.Length > 0)
        {
            // The range starts inside a value: make that value and keep its tail.
            SyntheticValues.Fill(one, _type, _draws.Skip(value++));
            done = Math.Min(_valueBytes - skip, destination.Length);
            one.Slice(skip, done).CopyTo(destination);
        }
        int whole = (destination.Length - done) / _valueBytes * _valueBytes;
        SyntheticValues.Fill(destination.Slice(done, whole), _type, _draws.Skip(value));
        value += whole / _valueBytes;
        done += whole;
        if (done < destination.Length)
        {
            SyntheticValues.Fill(one, _type, _draws.Skip(value));
            one[..(destination.Length - done)].CopyTo(destination[done..]);
        }
    }
}
