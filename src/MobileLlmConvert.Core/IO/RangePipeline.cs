using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// Streams the bytes of sources that read in ranges (<see cref="TensorSource.CanCopyRanges"/>) to one
/// consumer, in order, through a fixed set of reused buffers: a producer thread fills batch k+1 on
/// every core (<see cref="PieceBytes"/> pieces, <see cref="RowParallel"/>-style) while the calling
/// thread consumes batch k. Unlike <see cref="TensorPipeline"/> nothing is sized by a tensor, so
/// memory is <see cref="Buffers"/> x <see cref="BatchBytes"/> whatever the model, and the largest
/// tensor is computed on every core while earlier bytes are written.
/// </summary>
internal static class RangePipeline
{
    /// <summary>Bytes handed to the consumer at once: one efficient write, small against memory.</summary>
    public const int BatchBytes = 8 << 20;

    /// <summary>Bytes one core fills at a time: enough work to amortise scheduling, several per batch so every core has some.</summary>
    public const int PieceBytes = 1 << 20;

    /// <summary>Batches in flight: one being consumed, one being filled, one ready to absorb an uneven write.</summary>
    public const int Buffers = 3;

    /// <summary>Receives the next bytes of the concatenated sources; the span is valid only during the call.</summary>
    public delegate void Consumer(ReadOnlySpan<byte> bytes);

    /// <summary>
    /// Hands <paramref name="consume"/> every byte of every source, in order, in batches of at most
    /// <see cref="BatchBytes"/>. An exception of a source or of the consumer stops the run and is
    /// rethrown as itself once the producer has stopped (nothing reads a source after this returns).
    /// </summary>
    public static void Run(IReadOnlyList<TensorSource> sources, Consumer consume)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(consume);
        foreach (var s in sources)
        {
            if (!s.CanCopyRanges) throw new ArgumentException($"{s.GetType().Name} cannot be read in ranges", nameof(sources));
        }
        using var ready = new BlockingCollection<Batch>();
        using var free = new BlockingCollection<byte[]>();
        long total = sources.Sum(s => s.Length);
        int size = (int)Math.Min(BatchBytes, Math.Max(total, 1));
        for (int i = 0; i < Buffers; i++) free.Add(GC.AllocateUninitializedArray<byte>(size, pinned: true));
        using var stop = new CancellationTokenSource();
        var producer = new Thread(() => Produce(sources, ready, free, stop.Token)) { IsBackground = true, Name = "mlconvert range producer" };
        producer.Start();
        try
        {
            for (long written = 0; written < total;)
            {
                var batch = ready.Take();
                if (batch.Error is { } error) error.Throw();
                consume(batch.Buffer.AsSpan(0, batch.Length));
                written += batch.Length;
                free.Add(batch.Buffer);
            }
        }
        finally
        {
            stop.Cancel();
            producer.Join();
        }
    }

    private readonly record struct Batch(byte[] Buffer, int Length, ExceptionDispatchInfo? Error);

    /// <summary>Part of one source that lands at <see cref="At"/> in a batch.</summary>
    private readonly record struct Piece(TensorSource Source, long Offset, int At, int Length);

    private static void Produce(IReadOnlyList<TensorSource> sources, BlockingCollection<Batch> ready, BlockingCollection<byte[]> free, CancellationToken stop)
    {
        try
        {
            int index = 0;
            long offset = 0;
            var pieces = new List<Piece>();
            while (index < sources.Count && !stop.IsCancellationRequested)
            {
                var buffer = free.Take(stop);
                pieces.Clear();
                int filled = 0;
                var finished = new List<TensorSource>();
                while (filled < buffer.Length && index < sources.Count)
                {
                    var source = sources[index];
                    if (offset == 0) source.Prefetch();
                    int length = (int)Math.Min(Math.Min(PieceBytes, buffer.Length - filled), source.Length - offset);
                    if (length > 0) pieces.Add(new Piece(source, offset, filled, length));
                    filled += length;
                    offset += length;
                    if (offset == source.Length)
                    {
                        finished.Add(source);
                        index++;
                        offset = 0;
                    }
                }
                Fill(pieces, buffer);
                foreach (var s in finished) s.ReleasePages();
                ready.Add(new Batch(buffer, filled, null));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The consumer stopped the run; it does not read what is left.
        }
        catch (Exception e)
        {
            ready.Add(new Batch([], 0, ExceptionDispatchInfo.Capture(e)));
        }
    }

    private static void Fill(List<Piece> pieces, byte[] buffer)
    {
        if (pieces.Count == 1)
        {
            var p = pieces[0];
            p.Source.CopyRange(p.Offset, buffer.AsSpan(p.At, p.Length));
            return;
        }
        try
        {
            Parallel.For(0, pieces.Count, i =>
            {
                var p = pieces[i];
                p.Source.CopyRange(p.Offset, buffer.AsSpan(p.At, p.Length));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
