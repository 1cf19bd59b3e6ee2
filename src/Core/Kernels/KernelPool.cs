using System.Diagnostics;

namespace LlavaModal.Core.Kernels;

/// <summary>A range of work split among threads: <see cref="Run"/> is called for disjoint [start, end) ranges.</summary>
interface IRangeWork
{
    void Run(int start, int end);
}

/// <summary>
/// The threads the kernels run on. The caller works too; chunks are claimed one at a time, so a thread that the OS
/// deschedules (another process holds its core) leaves its share to the others instead of stalling the product.
/// Idle workers spin only for <see cref="SpinMicroseconds"/> (the gap between the products of one decode step), then
/// block, and so does a caller waiting for the others' last chunks: a busy machine loses at most that much per product,
/// never a core.
/// </summary>
/// <remarks>Written by hand because the .NET thread pool and <c>Parallel.For</c> schedule by work items with a latency
/// (tens of microseconds) comparable to a whole matrix-vector product of a small model.</remarks>
public sealed class KernelPool : IDisposable
{
    static readonly object SharedGate = new();
    static KernelPool? sharedPool;

    readonly Thread[] workers;
    readonly object gate = new();
    Job? current;
    long generation;
    bool disposed;

    /// <summary>A pool of <paramref name="threads"/> threads in all (the calling thread is one of them).</summary>
    public KernelPool(int threads, double spinMicroseconds = 50)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threads);
        SpinMicroseconds = spinMicroseconds;
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = new Thread(Work) { IsBackground = true, Name = $"llava-modal kernel {i + 1}" };
            workers[i].Start();
        }
    }

    /// <summary>The process-wide pool: one thread per logical processor unless <see cref="UseThreads"/> says otherwise.</summary>
    public static KernelPool Shared
    {
        get
        {
            lock (SharedGate) return sharedPool ??= new KernelPool(Environment.ProcessorCount);
        }
    }

    /// <summary>Gives the process-wide pool <paramref name="threads"/> threads (the CLI's <c>--threads</c>); call before products run.</summary>
    public static void UseThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threads);
        lock (SharedGate)
        {
            if (sharedPool?.Threads == threads) return;
            sharedPool?.Dispose();
            sharedPool = new KernelPool(threads);
        }
    }

    /// <summary>Threads in all, the caller included.</summary>
    public int Threads => workers.Length + 1;

    /// <summary>How long an idle worker polls for the next job before it blocks.</summary>
    public double SpinMicroseconds { get; }

    /// <summary>Runs <paramref name="work"/> over [0, count) in chunks of <paramref name="grain"/>, on all threads; returns when all are done.</summary>
    internal void For(int count, int grain, IRangeWork work)
    {
        if (count <= 0) return;
        grain = Math.Max(1, grain);
        int chunks = (count + grain - 1) / grain;
        if (chunks == 1 || workers.Length == 0)
        {
            work.Run(0, count);
            return;
        }
        var job = new Job(work, count, grain, chunks, SpinMicroseconds);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            Volatile.Write(ref current, job);
            generation++;
            Monitor.PulseAll(gate);
        }
        job.Help();
        job.Wait();
    }

    void Work()
    {
        long seen = 0;
        while (true)
        {
            Job? job = null;
            // Poll briefly: the next product of a decode step usually follows within microseconds.
            long until = Stopwatch.GetTimestamp() + (long)(SpinMicroseconds * Stopwatch.Frequency / 1e6);
            while (Volatile.Read(ref generation) == seen && Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
            lock (gate)
            {
                while (generation == seen && !disposed) Monitor.Wait(gate);
                if (disposed) return;
                seen = generation;
                job = current;
            }
            job?.Help();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            Monitor.PulseAll(gate);
        }
    }

    sealed class Job(IRangeWork work, int count, int grain, int chunkCount, double spinMicroseconds)
    {
        readonly int chunks = chunkCount;
        int next;
        int pending = chunkCount;
        Exception? error;

        public void Help()
        {
            int chunk;
            while ((chunk = Interlocked.Increment(ref next) - 1) < chunks)
            {
                try
                {
                    int start = chunk * grain;
                    work.Run(start, Math.Min(count, start + grain));
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref error, e, null);
                }
                if (Interlocked.Decrement(ref pending) == 0)
                    lock (this) Monitor.PulseAll(this);
            }
        }

        public void Wait()
        {
            // The caller ran out of chunks; others may still be finishing theirs (at most a chunk each). Poll as long as an
            // idle worker does, then block: waking a blocked caller costs tens of microseconds on a VM, on every product.
            long until = Stopwatch.GetTimestamp() + (long)(spinMicroseconds * Stopwatch.Frequency / 1e6);
            while (Volatile.Read(ref pending) > 0 && Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
            lock (this)
                while (Volatile.Read(ref pending) > 0) Monitor.Wait(this);
            if (error is not null) throw new AggregateException("A kernel thread failed.", error);
        }
    }
}
