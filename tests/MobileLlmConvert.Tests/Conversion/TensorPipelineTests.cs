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
    private static byte Pattern(long offset) => (byte)(offset * 7 % 251);

    [Fact]
    public void RangedSourcesArriveInWholeUnitChunksAndEveryByteInOrder()
    {
        const int unit = 3000;
        long length = (long)TensorPipeline.ChunkBytes * 5 / 2 + 1234;
        var fills = new System.Collections.Concurrent.ConcurrentBag<(long, int)>();
        var ranged = new ComputedSource(length, unit, (offset, dst) =>
        {
            fills.Add((offset, dst.Length));
            for (int k = 0; k < dst.Length; k++) dst[k] = Pattern(offset + k);
        });
        var sources = new List<TensorSource?> { new Computed(1, 3000), null, ranged, new MemorySource(new byte[] { 7, 8 }) };
        var chunks = new List<(int Index, byte[] Bytes, bool Last)>();
        TensorPipeline.RunChunks(sources, (i, bytes, last) => chunks.Add((i, bytes.ToArray(), last)));

        Assert.Equal([0, 1, 2, 2, 2, 3], chunks.Select(c => c.Index));
        Assert.Equal([true, true, false, false, true, true], chunks.Select(c => c.Last));
        var whole = chunks.Where(c => c.Index == 2).SelectMany(c => c.Bytes).ToArray();
        Assert.Equal(length, whole.Length);
        for (int k = 0; k < whole.Length; k++) Assert.Equal(Pattern(k), whole[k]);
        // Cut at whole units, each chunk within the bound, each unit computed once.
        Assert.All(chunks.Where(c => c.Index == 2 && !c.Last), c => Assert.Equal(0, c.Bytes.Length % unit));
        Assert.All(chunks, c => Assert.True(c.Bytes.Length <= TensorPipeline.ChunkBytes));
        Assert.Equal(length, fills.Sum(f => (long)f.Item2));
        Assert.Equal(Enumerable.Repeat((byte)1, 3000), chunks[0].Bytes);
        Assert.Empty(chunks[1].Bytes);
        Assert.Equal([7, 8], chunks[5].Bytes);
    }

    [Fact]
    public void AComputedSourceReadsARangeCutInsideItsUnitsFromWholeUnits()
    {
        var offsets = new List<(long, int)>();
        var source = new ComputedSource(95, 10, (offset, dst) =>
        {
            lock (offsets) offsets.Add((offset, dst.Length));
            for (int k = 0; k < dst.Length; k++) dst[k] = Pattern(offset + k);
        });
        var range = new byte[25];
        source.CopyRange(13, range);
        var tail = new byte[7];
        source.CopyRange(88, tail);

        Assert.Equal(Enumerable.Range(13, 25).Select(k => Pattern(k)), range);
        Assert.Equal(Enumerable.Range(88, 7).Select(k => Pattern(k)), tail);
        Assert.Equal([(10L, 30), (80L, 15)], offsets);
        Assert.Throws<ArgumentOutOfRangeException>(() => source.CopyRange(90, new byte[6]));
        Assert.Equal(source.ToArray(), Enumerable.Range(0, 95).Select(k => Pattern(k)).ToArray());
    }
}
