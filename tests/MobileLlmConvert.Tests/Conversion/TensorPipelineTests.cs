using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Tests.Conversion;

/// <summary>The overlap of computing and writing tensors every writer uses: order, bytes, failures.</summary>
public class TensorPipelineTests
{
    /// <summary>A computed source (no span, no ranges) that records its reads and can fail.</summary>
    private sealed class Computed(byte fill, int length, Exception? failure = null) : TensorSource
    {
        public int Reads;
        public override long Length => length;
        public override void CopyTo(Span<byte> destination)
        {
            Interlocked.Increment(ref Reads);
            if (failure is not null) throw failure;
            destination[..length].Fill(fill);
        }
    }

    [Fact]
    public void EveryTensorReachesTheWriterInOrderWithItsOwnBytes()
    {
        var sources = new List<TensorSource?>
        {
            new Computed(1, 3000), new MemorySource(new byte[] { 7, 8, 9 }), null, new Computed(2, 5), new Computed(3, 100_000), new Computed(4, 1),
        };
        var seen = new List<(int, byte[])>();
        TensorPipeline.Run(sources, (i, bytes) => seen.Add((i, bytes.ToArray())));

        Assert.Equal([0, 1, 2, 3, 4, 5], seen.Select(s => s.Item1));
        Assert.Equal(Enumerable.Repeat((byte)1, 3000), seen[0].Item2);
        Assert.Equal([7, 8, 9], seen[1].Item2);
        Assert.Empty(seen[2].Item2);
        Assert.Equal(Enumerable.Repeat((byte)2, 5), seen[3].Item2);
        Assert.Equal(Enumerable.Repeat((byte)3, 100_000), seen[4].Item2);
        Assert.Equal([4], seen[5].Item2);
        Assert.All(sources.OfType<Computed>(), s => Assert.Equal(1, s.Reads));
    }

    [Fact]
    public void AFailingSourceEndsTheRunWithItsOwnExceptionAfterTheTensorsBeforeIt()
    {
        var failing = new Computed(0, 10, new InvalidDataException("tensor x: row 3 column 1 holds NaN"));
        var later = new Computed(5, 10);
        var seen = new List<int>();
        var e = Assert.Throws<InvalidDataException>(() =>
            TensorPipeline.Run([new Computed(1, 10), new Computed(2, 10), failing, later], (i, _) => seen.Add(i)));

        Assert.Equal("tensor x: row 3 column 1 holds NaN", e.Message);
        Assert.Equal([0, 1], seen);
        Assert.Equal(0, later.Reads);
    }

    [Fact]
    public void AFailingWriterStopsTheProducerWithinOneTensorAhead()
    {
        var sources = Enumerable.Range(0, 8).Select(i => new Computed((byte)i, 64)).ToList();
        var e = Assert.Throws<IOException>(() =>
            TensorPipeline.Run(sources, (i, _) => { if (i == 1) throw new IOException("disk full"); }));

        Assert.Equal("disk full", e.Message);
        // Tensor 1 fails in the writer while the producer may have filled tensor 2 into the buffer
        // tensor 0 gave back; it has no buffer for tensor 3. Run returns only after the producer has
        // stopped, so these counts are final.
        Assert.All(sources.Skip(3), s => Assert.Equal(0, s.Reads));
    }
}
