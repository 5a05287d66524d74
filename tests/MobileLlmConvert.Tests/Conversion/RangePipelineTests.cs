using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Tests.Conversion;

/// <summary>The parallel positional writer HfExporter streams ranged sources through: bytes, chunk size, padding, failures, both I/O modes.</summary>
public class RangePipelineTests
{
    /// <summary>A source that reads in ranges, records its reads, and can fail at one offset.</summary>
    private sealed class Ranged(int length, int seed, long failAt = -1, Exception? failure = null) : TensorSource
    {
        public int Reads;
        public override long Length => length;
        public override bool CanCopyRanges => true;
        public override void CopyTo(Span<byte> destination) => CopyRange(0, destination[..length]);
        public override void CopyRange(long offset, Span<byte> destination)
        {
            Interlocked.Increment(ref Reads);
            if (failure is not null && offset <= failAt && failAt < offset + destination.Length) throw failure;
            for (int i = 0; i < destination.Length; i++) destination[i] = Byte(seed, offset + i);
        }

        public static byte Byte(int seed, long at) => (byte)((at * 31 + seed * 7 + (at >> 9)) & 0xFF);
    }

    /// <summary>A tensor larger than several chunks, tiny ones (a norm), empty ones, one ending mid-chunk, and bytes in memory.</summary>
    private static (List<TensorSource> Sources, byte[] Expected) Mixed()
    {
        int[] lengths = [0, 3000, RangePipeline.ChunkBytes * 3 + 12345, 0, 5, RangePipeline.ChunkBytes + 1, 1, (5 << 20) + 3];
        var sources = new List<TensorSource>(lengths.Select((n, i) => new Ranged(n, i)));
        sources.Add(new MemorySource(new byte[] { 7, 8, 9 }));
        var expected = new MemoryStream();
        for (int s = 0; s < lengths.Length; s++)
        {
            for (long i = 0; i < lengths[s]; i++) expected.WriteByte(Ranged.Byte(s, i));
        }
        expected.Write([7, 8, 9]);
        return (sources, expected.ToArray());
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(3, 4096)]
    public void EveryByteLandsAtItsPlaceOnceInChunksNoLargerThanTheBuffers(int workers, int align)
    {
        var (sources, expected) = Mixed();
        long padded = (expected.Length + align - 1) / align * align;
        var seen = new byte[padded];
        var written = new bool[padded];
        int largest = 0;
        RangePipeline.Run(sources, (offset, bytes) =>
        {
            lock (seen)
            {
                Assert.Equal(0, offset % align);
                Assert.Equal(0, bytes.Length % align);
                largest = Math.Max(largest, bytes.Length);
                for (int i = 0; i < bytes.Length; i++)
                {
                    Assert.False(written[offset + i], $"byte {offset + i} written twice");
                    written[offset + i] = true;
                }
                bytes.CopyTo(seen.AsSpan((int)offset));
            }
        }, workers, align);

        Assert.All(written, Assert.True);
        Assert.True(expected.AsSpan().SequenceEqual(seen.AsSpan(0, expected.Length)));
        Assert.All(seen.AsSpan(expected.Length).ToArray(), b => Assert.Equal(0, b));
        Assert.True(largest <= RangePipeline.ChunkBytes, $"a chunk of {largest} bytes");
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(long.MaxValue)]
    public void AFileWrittenDirectOrThroughThePageCacheHoldsExactlyTheBytes(long directFrom)
    {
        using var dir = new TempDir();
        var (sources, expected) = Mixed();
        using (var file = File.OpenHandle(dir["out.bin"], FileMode.CreateNew, FileAccess.Write))
        {
            bool direct = RangePipeline.WriteTo(file, sources, directFrom);
            if (directFrom == long.MaxValue) Assert.False(direct);
            RandomAccess.FlushToDisk(file);
        }
        var got = File.ReadAllBytes(dir["out.bin"]);
        Assert.Equal(expected.Length, got.Length); // not a multiple of the direct alignment: cut back after the padded last write
        Assert.True(expected.AsSpan().SequenceEqual(got));
    }

    // How many chunks another worker gets through while the failing one is between its throw and the
    // flag that stops the rest depends on scheduling (a loaded machine preempts it there), so the exact
    // counts are asserted with one worker; with two, that the failure surfaces and the run stops short.
    [Fact]
    public void AFailingSourceEndsTheRunWithItsOwnExceptionAndItsWritesStop()
    {
        var first = new Ranged(RangePipeline.ChunkBytes, 1);
        var failing = new Ranged(RangePipeline.ChunkBytes * 2, 2, failAt: 100, new InvalidDataException("tensor x: byte 100 unreadable"));
        var later = new Ranged(64 * RangePipeline.ChunkBytes, 3);
        long written = 0;
        var e = Assert.Throws<InvalidDataException>(() => RangePipeline.Run([first, failing, later], (_, bytes) => Interlocked.Add(ref written, bytes.Length), workers: 1));

        Assert.Equal("tensor x: byte 100 unreadable", e.Message);
        Assert.Equal(0, later.Reads);
        Assert.Equal(RangePipeline.ChunkBytes, written);
    }

    [Fact]
    public void AFailingSourceStopsTwoWorkersShortOfTheEnd()
    {
        var first = new Ranged(RangePipeline.ChunkBytes, 1);
        var failing = new Ranged(RangePipeline.ChunkBytes * 2, 2, failAt: 100, new InvalidDataException("tensor x: byte 100 unreadable"));
        var later = new Ranged(64 * RangePipeline.ChunkBytes, 3);
        var e = Assert.Throws<InvalidDataException>(() => RangePipeline.Run([first, failing, later], (_, _) => { }, workers: 2));

        Assert.Equal("tensor x: byte 100 unreadable", e.Message);
        Assert.True(later.Reads < 64, $"{later.Reads} of 64 chunks read after the failure");
    }

    [Fact]
    public void AFailingWriterStopsEveryWorker()
    {
        var sources = Enumerable.Range(0, 32).Select(i => new Ranged(RangePipeline.ChunkBytes, i)).ToList();
        int calls = 0;
        var e = Assert.Throws<IOException>(() => RangePipeline.Run(sources, (_, _) => { if (Interlocked.Increment(ref calls) == 2) throw new IOException("No space left on device"); }, workers: 1));

        Assert.Equal("No space left on device", e.Message);
        Assert.Equal(2, sources.Sum(s => s.Reads));
        Assert.Equal(2, calls);
    }

    [Fact]
    public void AFailingWriterStopsTwoWorkersShortOfTheEnd()
    {
        var sources = Enumerable.Range(0, 32).Select(i => new Ranged(RangePipeline.ChunkBytes, i)).ToList();
        int calls = 0;
        var e = Assert.Throws<IOException>(() => RangePipeline.Run(sources, (_, _) => { if (Interlocked.Increment(ref calls) == 2) throw new IOException("No space left on device"); }, workers: 2));

        Assert.Equal("No space left on device", e.Message);
        // Run returns only after every worker has stopped, so this count is final.
        Assert.True(sources.Sum(s => s.Reads) < 32, $"{sources.Sum(s => s.Reads)} of 32 chunks read");
    }

    [Fact]
    public void ASourceThatCannotReadRangesIsRefused()
    {
        var memory = new MemorySource(new byte[4]);
        Assert.Throws<ArgumentException>(() => RangePipeline.Run([memory, new NoRanges()], (_, _) => { }));
    }

    private sealed class NoRanges : TensorSource
    {
        public override long Length => 1;
        public override void CopyTo(Span<byte> destination) => destination[0] = 1;
    }
}
