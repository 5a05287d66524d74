using System.Runtime.ExceptionServices;

namespace MobileLlmConvert.Core.IO;

/// <summary>
/// Runs a per-row computation (quantize, convert, generate) over a tensor's rows in blocks on every
/// core. Rows are independent and each block writes only its own rows, so the bytes are the same
/// for any number of threads and any schedule.
/// </summary>
internal static class RowParallel
{
    /// <summary>
    /// Input bytes per block: large enough that scheduling a block costs nothing beside its work,
    /// small enough that the largest tensors split into many blocks and a block's buffers stay small.
    /// </summary>
    public const int BlockBytes = 1 << 20;

    /// <summary>
    /// Calls <paramref name="block"/>(first row, row count) for consecutive blocks covering
    /// [0, <paramref name="rows"/>), in parallel. The first exception of a failed block is rethrown
    /// as itself (not wrapped), after every started block has ended.
    /// </summary>
    public static void For(long rows, long rowBytes, Action<long, int> block)
    {
        if (rows <= 0) return;
        int per = (int)Math.Clamp(BlockBytes / Math.Max(1, rowBytes), 1, Math.Min(rows, int.MaxValue));
        long blocks = (rows + per - 1) / per;
        if (blocks == 1)
        {
            block(0, (int)rows);
            return;
        }
        try
        {
            Parallel.For(0L, blocks, b =>
            {
                long first = b * per;
                block(first, (int)Math.Min(per, rows - first));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
