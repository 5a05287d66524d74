using System.Runtime.ExceptionServices;

namespace MobileLlmConvert.Runtime;

/// <summary>A unit of parallel work: part <c>part</c> of <c>parts</c>, run by worker <c>worker</c> (0 = the caller).</summary>
internal interface IParallelJob
{
    void Execute(int part, int parts, int worker);
}

/// <summary>
/// A persistent pool: its threads are created once and reused for every matrix multiply, so the token
/// loop neither allocates nor creates threads. Parts are handed out dynamically (an interlocked
/// counter), which keeps both cores busy when another process steals one; every part writes its own
/// outputs, and scratch is per worker, so results never depend on which thread ran which part.
/// With one thread everything runs inline on the caller.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim[] _go;
    /// <summary>
    /// Spins before a wait blocks (the most ManualResetEventSlim allows): a decode step dispatches a few
    /// hundred short jobs, and waking a blocked thread costs more than most of them.
    /// </summary>
    private const int SpinCount = 2047;

    private readonly ManualResetEventSlim _done = new(false, SpinCount);
    private IParallelJob? _job;
    private int _parts;
    private int _nextPart;
    private int _workersBusy;
    private volatile bool _stopping;
    private Exception? _error;

    public int Threads { get; }

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "at least one thread");
        Threads = threads;
        _threads = new Thread[threads - 1];
        _go = new ManualResetEventSlim[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int worker = i + 1;
            _go[i] = new ManualResetEventSlim(false, SpinCount);
            _threads[i] = new Thread(() => WorkerLoop(worker)) { IsBackground = true, Name = $"mlconvert-worker-{worker}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs parts 0..parts-1 of <paramref name="job"/> and returns when all are done.</summary>
    public void Run(IParallelJob job, int parts)
    {
        if (parts <= 0) return;
        if (_threads.Length == 0 || parts == 1)
        {
            for (int p = 0; p < parts; p++) job.Execute(p, parts, 0);
            return;
        }
        _job = job;
        _parts = parts;
        _nextPart = 0;
        _workersBusy = _threads.Length;
        _done.Reset();
        foreach (var go in _go) go.Set();
        RunParts(0);
        // Wait for every worker to come back, not only for the parts: a worker that woke late must not
        // take a part of the next job while still holding this one.
        _done.Wait();
        _job = null;
        // A job that throws on a worker thread would otherwise kill the process; hand it to the caller as
        // it was thrown, as the inline path does.
        if (Interlocked.Exchange(ref _error, null) is { } error) ExceptionDispatchInfo.Capture(error).Throw();
    }

    private void RunParts(int worker)
    {
        var job = _job!;
        int parts = _parts;
        while (true)
        {
            int p = Interlocked.Increment(ref _nextPart) - 1;
            if (p >= parts) return;
            try
            {
                job.Execute(p, parts, worker);
            }
            catch (Exception e)
            {
                // Caught on every thread, the caller's included, so Run always waits for the workers
                // before it rethrows: the pool stays consistent for the next job.
                Interlocked.CompareExchange(ref _error, e, null);
            }
        }
    }

    private void WorkerLoop(int worker)
    {
        var go = _go[worker - 1];
        while (true)
        {
            go.Wait();
            go.Reset();
            if (_stopping) return;
            RunParts(worker);
            if (Interlocked.Decrement(ref _workersBusy) == 0) _done.Set();
        }
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        foreach (var go in _go) go.Set();
        foreach (var t in _threads) t.Join();
        foreach (var go in _go) go.Dispose();
        _done.Dispose();
    }
}
