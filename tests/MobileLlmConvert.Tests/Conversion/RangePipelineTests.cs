using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Tests.Conversion;

/// <summary>The bounded-buffer stream of ranged sources HfExporter writes through: order, bytes, batch size, failures.</summary>
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

    [Fact]
    public void EveryByteReachesTheConsumerInOrderInBatchesNoLargerThanTheBuffers()
    {
        // A tensor larger than a batch, tiny ones (a norm), an empty one, and one that ends mid-batch.
        int[] lengths = [3000, RangePipeline.BatchBytes * 2 + 12345, 0, 5, RangePipeline.PieceBytes + 1, 1, 7 << 20];
        var sources = lengths.Select((n, i) => new Ranged(n, i)).ToList();
        var seen = new MemoryStream();
        int largest = 0;
        RangePipeline.Run([.. sources, new MemorySource(new byte[] { 7, 8, 9 })], bytes =>
        {
            largest = Math.Max(largest, bytes.Length);
            seen.Write(bytes);
        });

        var expected = new MemoryStream();
        for (int s = 0; s < lengths.Length; s++)
        {
            for (long i = 0; i < lengths[s]; i++) expected.WriteByte(Ranged.Byte(s, i));
        }
        expected.Write([7, 8, 9]);
        Assert.Equal(expected.Length, seen.Length);
        Assert.True(expected.ToArray().AsSpan().SequenceEqual(seen.ToArray()));
        Assert.True(largest <= RangePipeline.BatchBytes, $"a batch of {largest} bytes");
    }

    [Fact]
    public void AFailingSourceEndsTheRunWithItsOwnExceptionAndNothingAfterIt()
    {
        var first = new Ranged(RangePipeline.BatchBytes, 1);
        var failing = new Ranged(RangePipeline.BatchBytes, 2, failAt: 100, new InvalidDataException("tensor x: byte 100 unreadable"));
        var later = new Ranged(4 * RangePipeline.BatchBytes, 3);
        long consumed = 0;
        var e = Assert.Throws<InvalidDataException>(() => RangePipeline.Run([first, failing, later], bytes => consumed += bytes.Length));

        Assert.Equal("tensor x: byte 100 unreadable", e.Message);
        Assert.Equal(RangePipeline.BatchBytes, consumed);
        Assert.Equal(0, later.Reads);
    }

    [Fact]
    public void AFailingConsumerStopsTheProducerWithinTheBuffersAhead()
    {
        var sources = Enumerable.Range(0, 10).Select(i => new Ranged(RangePipeline.BatchBytes, i)).ToList();
        int batches = 0;
        var e = Assert.Throws<IOException>(() => RangePipeline.Run(sources, _ => { if (++batches == 2) throw new IOException("disk full"); }));

        Assert.Equal("disk full", e.Message);
        // Batch 2 fails in the consumer; the producer holds at most the other buffers' batches, and Run
        // returns only after it has stopped, so these counts are final.
        Assert.All(sources.Skip(2 + RangePipeline.Buffers), s => Assert.Equal(0, s.Reads));
    }

    [Fact]
    public void ASourceThatCannotReadRangesIsRefused()
    {
        var memory = new MemorySource(new byte[4]);
        Assert.Throws<ArgumentException>(() => RangePipeline.Run([memory, new NoRanges()], _ => { }));
    }

    private sealed class NoRanges : TensorSource
    {
        public override long Length => 1;
        public override void CopyTo(Span<byte> destination) => destination[0] = 1;
    }
}
