using System.Diagnostics;

namespace LlavaModal.Benchmarks;

/// <summary>
/// How long this process has run. For its first seconds .NET recompiles hot methods on a background thread, which on
/// two cores slows one of the two kernel threads: 70m int4 decode at depth 511 (33 tokens, 2 threads) measured 1.2-1.6x
/// faster after 8 warm-up runs than after 3. Children measured against llama.cpp warm up until they are
/// <see cref="WarmupSeconds"/> old.
/// </summary>
static class ProcessAge
{
    public const double WarmupSeconds = 5;

    static readonly DateTime Started = StartTime();

    public static double Seconds => (DateTime.Now - Started).TotalSeconds;

    static DateTime StartTime()
    {
        using var self = Process.GetCurrentProcess();
        return self.StartTime;
    }
}
