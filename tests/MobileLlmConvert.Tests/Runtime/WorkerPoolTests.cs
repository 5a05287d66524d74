using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class WorkerPoolTests
{
    private sealed class Job(int[] hits, int throwOnPart) : IParallelJob
    {
        public void Execute(int part, int parts, int worker)
        {
            Interlocked.Increment(ref hits[part]);
            if (part == throwOnPart) throw new InvalidOperationException($"part {part} failed");
        }
    }

    [Fact]
    public void Every_part_runs_exactly_once_for_many_jobs_in_a_row()
    {
        using var pool = new WorkerPool(3);
        for (int round = 0; round < 2000; round++)
        {
            var hits = new int[1 + round % 13];
            pool.Run(new Job(hits, -1), hits.Length);
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void A_failing_part_reaches_the_caller_and_the_pool_keeps_working()
    {
        using var pool = new WorkerPool(2);
        for (int failing = 0; failing < 8; failing++)
        {
            var e = Assert.Throws<InvalidOperationException>(() => pool.Run(new Job(new int[8], failing), 8));
            Assert.Equal($"part {failing} failed", e.Message);
            var hits = new int[8];
            pool.Run(new Job(hits, -1), 8);
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }
}
