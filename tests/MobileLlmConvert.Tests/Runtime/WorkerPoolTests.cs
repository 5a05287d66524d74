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

    private sealed class Recorder(int[] hits, int[] workers) : IParallelJob
    {
        public void Execute(int part, int parts, int worker)
        {
            Interlocked.Increment(ref hits[part]);
            workers[part] = worker;
        }
    }

    [Fact]
    public void Jobs_after_the_workers_went_to_sleep_still_run_every_part_once()
    {
        // A pause longer than the pool's spin makes the workers block; each job must wake them (or run
        // on the caller) and still run every part exactly once.
        using var pool = new WorkerPool(2);
        for (int round = 0; round < 20; round++)
        {
            Thread.Sleep(2);
            var hits = new int[8];
            pool.Run(new Recorder(hits, new int[8]), 8);
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public async Task A_part_that_blocks_does_not_stop_the_other_threads_running_the_rest()
    {
        // One thread is stuck inside the first part it took until every other part has run: the other
        // thread (caller or worker) must claim and run them all.
        using var pool = new WorkerPool(2);
        var gate = new ManualResetEventSlim(false);
        var job = new Blocking(gate, parts: 6);
        var run = Task.Run(() => pool.Run(job, 6));
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref job.OthersDone) == 5, TimeSpan.FromSeconds(30)), "the other parts did not run while part 0 was blocked");
        gate.Set();
        await run.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private sealed class Blocking(ManualResetEventSlim gate, int parts) : IParallelJob
    {
        public int OthersDone;
        private int _first = -1;

        public void Execute(int part, int count, int worker)
        {
            Assert.Equal(parts, count);
            // Whichever thread takes a part first parks there; every other part must still complete.
            if (Interlocked.CompareExchange(ref _first, part, -1) == -1) gate.Wait();
            else Interlocked.Increment(ref OthersDone);
        }
    }

    [Fact]
    public void More_parts_than_the_claim_word_holds_are_refused()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Run(new Job(new int[1], -1), WorkerPool.MaxParts + 1));
    }
}
