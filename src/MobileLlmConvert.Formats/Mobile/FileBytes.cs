using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>
/// Random access to a file's bytes for the reader: a memory-mapped file in production (sections
/// become zero-copy <see cref="MappedSource"/>s), an array for in-memory parsing (fuzzing, tests).
/// Callers check every range against <see cref="Length"/> first.
/// </summary>
internal abstract class FileBytes
{
    public abstract long Length { get; }
    public abstract ReadOnlySpan<byte> Span(long offset, long length);
    public abstract TensorSource Slice(long offset, long length);

    public sealed class Mapped(MappedFile file) : FileBytes
    {
        public override long Length => file.Length;
        public override ReadOnlySpan<byte> Span(long offset, long length) => file.Span(offset, length);
        public override TensorSource Slice(long offset, long length) => file.Slice(offset, length);
    }

    public sealed class Memory(byte[] bytes) : FileBytes
    {
        public override long Length => bytes.Length;
        public override ReadOnlySpan<byte> Span(long offset, long length) => bytes.AsSpan(checked((int)offset), checked((int)length));
        public override TensorSource Slice(long offset, long length) => new MemorySource(bytes.AsMemory(checked((int)offset), checked((int)length)));
    }
}
