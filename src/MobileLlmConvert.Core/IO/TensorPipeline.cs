using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// Overlaps computing tensors with writing them, for every writer: a producer thread fills the
/// bytes of tensor i+1 (reading, converting, quantizing; a computed source spreads its rows over
/// every core, <see cref="RowParallel"/>) while the calling thread writes tensor i. At most
/// <see cref="Ahead"/> tensors are computed ahead of the writer, into <see cref="Ahead"/> + 1 reused
/// buffers, so memory stays two tensors whatever the model's size. The writer sees every tensor
/// in order with exactly the bytes a serial <c>CopyTo</c> gives, so outputs are byte-identical.
/// </summary>
public static class TensorPipeline
{
    /// <summary>Tensors computed ahead of the writer: one is enough to keep the cores busy while the previous one is written.</summary>
    public const int Ahead = 1;

    /// <summary>Receives tensor <paramref name="index"/>'s bytes on the calling thread; the span is valid only during the call.</summary>
    public delegate void Consumer(int index, ReadOnlySpan<byte> bytes);

    /// <summary>
    /// Hands <paramref name="consume"/> the bytes of every source, in order. A null source is one the
    /// consumer has already (e.g. a tensor written twice): it is called with an empty span. A source
    /// with a zero-copy span is handed over as that span, and its mapped pages are released after.
    /// An exception of a source or of the consumer stops the run and is rethrown as itself, after the
    /// producer has stopped (nothing reads a source once this returns).
    /// </summary>
    public static void Run(IReadOnlyList<TensorSource?> sources, Consumer consume)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(consume);
        if (sources.Count == 0) return;
        using var ready = new BlockingCollection<Item>();
        using var free = new BlockingCollection<byte[]>();
        for (int i = 0; i <= Ahead; i++) free.Add([]);
        using var stop = new CancellationTokenSource();
        var producer = new Thread(() => Produce(sources, ready, free, stop.Token)) { IsBackground = true, Name = "mlconvert tensor producer" };
        producer.Start();
        try
        {
            for (int i = 0; i < sources.Count; i++)
            {
                var item = ready.Take();
                if (item.Error is { } error) error.Throw();
                if (item.Buffer is { } buffer)
                {
                    consume(i, buffer.AsSpan(0, item.Length));
                    free.Add(buffer);
                }
                else if (sources[i] is { } span && span.TryGetSpan(out var bytes))
                {
                    consume(i, bytes);
                    span.ReleasePages();
                }
                else
                {
                    consume(i, ReadOnlySpan<byte>.Empty);
                }
            }
        }
        finally
        {
            stop.Cancel();
            producer.Join();
        }
    }

    private readonly record struct Item(byte[]? Buffer, int Length, ExceptionDispatchInfo? Error);

    private static void Produce(IReadOnlyList<TensorSource?> sources, BlockingCollection<Item> ready, BlockingCollection<byte[]> free, CancellationToken stop)
    {
        try
        {
            for (int i = 0; i < sources.Count && !stop.IsCancellationRequested; i++)
            {
                if (i + 1 < sources.Count) sources[i + 1]?.Prefetch();
                var source = sources[i];
                if (source is null || source.TryGetSpan(out _))
                {
                    ready.Add(new Item(null, 0, null));
                    continue;
                }
                int length = checked((int)source.Length);
                var buffer = free.Take(stop);
                if (buffer.Length < length) buffer = GC.AllocateUninitializedArray<byte>(length);
                source.CopyTo(buffer.AsSpan(0, length));
                source.ReleasePages();
                ready.Add(new Item(buffer, length, null));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The consumer stopped the run; it does not read what is left.
        }
        catch (Exception e)
        {
            ready.Add(new Item(null, 0, ExceptionDispatchInfo.Capture(e)));
        }
    }
}
