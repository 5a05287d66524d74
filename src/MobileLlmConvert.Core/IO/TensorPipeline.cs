using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// Overlaps computing tensors with writing them, for every writer: a producer thread fills the
/// bytes of the next piece (reading, converting, quantizing; a computed source spreads its rows over
/// every core, <see cref="RowParallel"/>) while the calling thread writes the previous one. At most
/// <see cref="Ahead"/> pieces are computed ahead of the writer, into <see cref="Ahead"/> + 1 reused
/// buffers. <see cref="Run"/> hands over whole tensors (memory: two tensors); <see cref="RunChunks"/>
/// cuts every source that reads ranges into chunks of about <see cref="ChunkBytes"/> (memory: two
/// chunks, whatever the tensors' size). The writer sees every byte in order, exactly the bytes a
/// serial <c>CopyTo</c> gives, so outputs are byte-identical.
/// </summary>
public static class TensorPipeline
{
    /// <summary>Pieces computed ahead of the writer: one is enough to keep the cores busy while the previous one is written.</summary>
    public const int Ahead = 1;

    /// <summary>
    /// Bytes per chunk of <see cref="RunChunks"/> (rounded down to whole units of the source's
    /// <see cref="TensorSource.RangeAlignment"/>, at least one): large enough that every core gets
    /// many <see cref="RowParallel.BlockBytes"/> blocks, small beside any tensor worth streaming.
    /// </summary>
    public const int ChunkBytes = 8 << 20;

    /// <summary>Receives tensor <paramref name="index"/>'s bytes on the calling thread; the span is valid only during the call.</summary>
    public delegate void Consumer(int index, ReadOnlySpan<byte> bytes);

    /// <summary>
    /// Receives the next bytes of tensor <paramref name="index"/> on the calling thread, in order;
    /// <paramref name="last"/> is true for its final chunk. The span is valid only during the call.
    /// </summary>
    public delegate void ChunkConsumer(int index, ReadOnlySpan<byte> bytes, bool last);

    /// <summary>
    /// Hands <paramref name="consume"/> the bytes of every source, in order. A null source is one the
    /// consumer has already (e.g. a tensor written twice): it is called with an empty span. A source
    /// with a zero-copy span is handed over as that span, and its mapped pages are released after.
    /// An exception of a source or of the consumer stops the run and is rethrown as itself, after the
    /// producer has stopped (nothing reads a source once this returns).
    /// </summary>
    public static void Run(IReadOnlyList<TensorSource?> sources, Consumer consume)
    {
        ArgumentNullException.ThrowIfNull(consume);
        Pump(sources, int.MaxValue, (i, bytes, _) => consume(i, bytes));
    }

    /// <summary>
    /// As <see cref="Run"/>, but a source that reads ranges (<see cref="TensorSource.CanCopyRanges"/>)
    /// arrives in chunks of about <see cref="ChunkBytes"/>; any other source in one piece. Every
    /// tensor ends with exactly one call whose <c>last</c> is true (an empty tensor: one empty call).
    /// </summary>
    public static void RunChunks(IReadOnlyList<TensorSource?> sources, ChunkConsumer consume) =>
        Pump(sources, ChunkBytes, consume);

    private static void Pump(IReadOnlyList<TensorSource?> sources, int chunkBytes, ChunkConsumer consume)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(consume);
        if (sources.Count == 0) return;
        using var ready = new BlockingCollection<Item>();
        using var free = new BlockingCollection<byte[]>();
        for (int i = 0; i <= Ahead; i++) free.Add([]);
        using var stop = new CancellationTokenSource();
        var producer = new Thread(() => Produce(sources, chunkBytes, ready, free, stop.Token)) { IsBackground = true, Name = "mlconvert tensor producer" };
        producer.Start();
        try
        {
            for (int i = 0; i < sources.Count; i++)
            {
                bool last;
                do
                {
                    var item = ready.Take();
                    if (item.Error is { } error) error.Throw();
                    last = item.Last;
                    if (item.Buffer is { } buffer)
                    {
                        consume(i, buffer.AsSpan(0, item.Length), last);
                        free.Add(buffer);
                    }
                    else if (sources[i] is { } span && span.TryGetSpan(out var bytes))
                    {
                        consume(i, bytes, true);
                        span.ReleasePages();
                    }
                    else
                    {
                        consume(i, ReadOnlySpan<byte>.Empty, true);
                    }
                }
                while (!last);
            }
        }
        finally
        {
            stop.Cancel();
            producer.Join();
        }
    }

    private readonly record struct Item(byte[]? Buffer, int Length, bool Last, ExceptionDispatchInfo? Error);

    private static void Produce(IReadOnlyList<TensorSource?> sources, int chunkBytes, BlockingCollection<Item> ready, BlockingCollection<byte[]> free, CancellationToken stop)
    {
        try
        {
            for (int i = 0; i < sources.Count && !stop.IsCancellationRequested; i++)
            {
                if (i + 1 < sources.Count) sources[i + 1]?.Prefetch();
                var source = sources[i];
                if (source is null || source.TryGetSpan(out _))
                {
                    ready.Add(new Item(null, 0, true, null));
                    continue;
                }
                long length = source.Length;
                if (length > Array.MaxLength) throw new InvalidOperationException($"a tensor of {length} bytes exceeds the largest array");
                bool ranged = source.CanCopyRanges && length > chunkBytes;
                int unit = Math.Max(1, source.RangeAlignment);
                long step = ranged ? Math.Max(unit, chunkBytes / unit * (long)unit) : Math.Max(1, length);
                long offset = 0;
                do
                {
                    int count = (int)Math.Min(step, length - offset);
                    var buffer = free.Take(stop);
                    if (buffer.Length < count) buffer = GC.AllocateUninitializedArray<byte>(count);
                    if (ranged) source.CopyRange(offset, buffer.AsSpan(0, count));
                    else source.CopyTo(buffer.AsSpan(0, count));
                    offset += count;
                    ready.Add(new Item(buffer, count, offset >= length, null));
                }
                while (offset < length);
                source.ReleasePages();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The consumer stopped the run; it does not read what is left.
        }
        catch (Exception e)
        {
            ready.Add(new Item(null, 0, true, ExceptionDispatchInfo.Capture(e)));
        }
    }
}
