using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.ExceptionServices;

namespace MobileLlmConvert.Runtime;

/// <summary>A unit of parallel work: part <c>part</c> of <c>parts</c>, run by worker <c>worker</c> (0 = the caller).</summary>
internal interface IParallelJob
{
    void Execute(int part, int parts, int worker);
}

/// <summary>
/// A persistent pool: its threads are created once and reused for every matrix multiply, so the token
/// loop neither allocates nor creates threads. Parts are claimed dynamically, and the caller waits for
/// the parts, not for the threads: when another process holds a core, the caller runs what a
/// descheduled worker did not claim instead of waiting a scheduler quantum for it to wake. Every part
/// writes its own outputs and scratch is per worker, so results never depend on which thread ran which
/// part. With one thread everything runs inline on the caller.
/// <para>
/// Spin, then block: a decode step of a 30-layer model dispatches about 120 jobs of 10-100 µs each,
/// separated by a few µs of serial work (norms, RoPE, attention at short context). Waking a thread
/// blocked in the kernel costs tens of µs, about a job's length, which made two threads slower than
/// one. So an idle worker polls for a job for <see cref="SpinTime"/> before it blocks, and the caller
/// polls for the last part the same way; a thread only sleeps when no job came for that long (between
/// generate calls), so an idle pool costs no CPU. ggml's thread pool does the same (ggml-cpu.c,
/// ggml_graph_compute_poll_for_work).
/// </para>
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    /// <summary>
    /// How long a thread polls before it blocks: longer than the serial gaps inside a token (a few µs to
    /// ~100 µs for attention at long context) so the hot loop never sleeps, short enough that a pool
    /// left idle gives its core back almost at once.
    /// </summary>
    private static readonly long SpinTime = Stopwatch.Frequency / 5000; // 200 µs

    /// <summary>
    /// The claim word packs generation, part count and next part (<see cref="GenerationShift"/>,
    /// <see cref="PartBits"/>) so one compare-exchange both claims a part and proves the job is still
    /// the one the claimer saw: a worker that slept through whole jobs can never run a part of a job
    /// it read stale fields of.
    /// </summary>
    private const int PartBits = 20;
    private const int GenerationShift = 2 * PartBits;
    private const long PartMask = (1L << PartBits) - 1;
    /// <summary>Generations wrap at 2^24; only equality is ever tested, and the caller never depends on a worker arriving.</summary>
    private const long GenerationMask = (1L << (64 - GenerationShift)) - 1;

    /// <summary>Most parts one job may have (fits <see cref="PartBits"/>).</summary>
    public const int MaxParts = (1 << PartBits) - 1;

    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim[] _wake;
    private readonly int[] _asleep;
    private readonly ManualResetEventSlim _done = new(false, 0);
    private int _callerAsleep;
    private IParallelJob? _job;
    /// <summary>The claim word and the done count, each on a cache line of its own (<see cref="HotWords"/>).</summary>
    private HotWords _hot;
    private volatile bool _stopping;
    private Exception? _error;

    public int Threads { get; }

    private const int CacheLine = 64;

    /// <summary>
    /// The two words every thread writes: the claim word (generation &lt;&lt; 40 | parts &lt;&lt; 20 | next
    /// part), compare-exchanged once per part, and the count of parts done, incremented once per part
    /// and polled by the caller. Each sits 64 bytes from the other and from every other field, so a
    /// claim does not evict the line the caller polls, and neither evicts the job fields every part
    /// reads (false sharing between the two cores, once per part of every job).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 3 * CacheLine)]
    private struct HotWords
    {
        [FieldOffset(CacheLine)] public long Claim;
        [FieldOffset(2 * CacheLine)] public int PartsDone;
    }

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "at least one thread");
        Threads = threads;
        _threads = new Thread[threads - 1];
        _wake = new ManualResetEventSlim[threads - 1];
        _asleep = new int[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int worker = i + 1;
            _wake[i] = new ManualResetEventSlim(false, 0);
            _threads[i] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"mlconvert-worker-{worker}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs parts 0..parts-1 of <paramref name="job"/> and returns when all are done.</summary>
    public void Run(IParallelJob job, int parts)
    {
        if (parts <= 0) return;
        if (parts > MaxParts) throw new ArgumentOutOfRangeException(nameof(parts), parts, $"at most {MaxParts} parts");
        if (_threads.Length == 0 || parts == 1)
        {
            for (int p = 0; p < parts; p++) job.Execute(p, parts, 0);
            return;
        }
        _job = job;
        _hot.PartsDone = 0;
        long generation = (GenerationOf(Volatile.Read(ref _hot.Claim)) + 1) & GenerationMask;
        // The exchange is a full fence: the fields above are visible to whoever claims a part of the new
        // generation, and a worker that announced it is asleep before this point is read below and woken.
        Interlocked.Exchange(ref _hot.Claim, generation << GenerationShift | (long)parts << PartBits);
        for (int i = 0; i < _wake.Length; i++)
        {
            if (Volatile.Read(ref _asleep[i]) != 0) _wake[i].Set();
        }
        RunParts(0, generation);
        WaitForParts(parts);
        _job = null;
        // A job that throws on a worker thread would otherwise kill the process; hand it to the caller as
        // it was thrown, as the inline path does.
        if (Interlocked.Exchange(ref _error, null) is { } error) ExceptionDispatchInfo.Capture(error).Throw();
    }

    private static long GenerationOf(long claim) => claim >>> GenerationShift;

    private void WaitForParts(int parts)
    {
        long until = Stopwatch.GetTimestamp() + SpinTime;
        while (Volatile.Read(ref _hot.PartsDone) != parts)
        {
            if (Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(8);
                continue;
            }
            // Announce, fence, re-check (Dekker): the thread finishing the last part either sees the flag
            // and sets the event, or finished before the re-check and the caller does not sleep.
            _done.Reset();
            Interlocked.Exchange(ref _callerAsleep, 1);
            if (Volatile.Read(ref _hot.PartsDone) != parts) _done.Wait();
            Interlocked.Exchange(ref _callerAsleep, 0);
        }
    }

    /// <summary>Claims and runs parts of <paramref name="generation"/> until none is left (or a newer job replaced it).</summary>
    private void RunParts(int worker, long generation)
    {
        while (true)
        {
            long c = Volatile.Read(ref _hot.Claim);
            long next = c & PartMask, parts = (c >> PartBits) & PartMask;
            if (GenerationOf(c) != generation || next >= parts) return;
            if (Interlocked.CompareExchange(ref _hot.Claim, c + 1, c) != c) continue;
            // This part is claimed and not done, so the job cannot have been replaced: _job is this generation's.
            try
            {
                _job!.Execute((int)next, (int)parts, worker);
            }
            catch (Exception e)
            {
                // Caught on every thread, the caller's included, so Run always waits for every part
                // before it rethrows: the pool stays consistent for the next job.
                Interlocked.CompareExchange(ref _error, e, null);
            }
            // A full fence: the part's outputs are visible before the caller sees the count.
            if (Interlocked.Increment(ref _hot.PartsDone) == parts && Volatile.Read(ref _callerAsleep) != 0) _done.Set();
        }
    }

    private void WorkerLoop(int worker)
    {
        long seen = 0;
        int i = worker - 1;
        while (true)
        {
            long generation = WaitForJob(i, seen);
            if (_stopping) return;
            seen = generation;
            RunParts(worker, generation);
        }
    }

    /// <summary>Polls for a generation other than <paramref name="seen"/>, then blocks until woken.</summary>
    private long WaitForJob(int i, long seen)
    {
        long until = Stopwatch.GetTimestamp() + SpinTime;
        while (true)
        {
            long g = GenerationOf(Volatile.Read(ref _hot.Claim));
            if (g != seen || _stopping) return g;
            if (Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(8);
                continue;
            }
            _wake[i].Reset();
            Interlocked.Exchange(ref _asleep[i], 1);
            if (GenerationOf(Volatile.Read(ref _hot.Claim)) == seen && !_stopping) _wake[i].Wait();
            Interlocked.Exchange(ref _asleep[i], 0);
            until = Stopwatch.GetTimestamp() + SpinTime;
        }
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        foreach (var w in _wake) w.Set();
        foreach (var t in _threads) t.Join();
        foreach (var w in _wake) w.Dispose();
        _done.Dispose();
    }
}
