using System.Diagnostics;
using System.Text.Json;

namespace LlavaModal.Benchmarks.LlamaCpp;

/// <summary>A measured program that exited with an error: the message has its command line, exit code and last lines of stderr.</summary>
sealed class ChildProcessException(string message) : Exception(message);

/// <summary>What a child process printed and the peak of its resident set.</summary>
sealed record ProcessResult(string StandardOutput, string StandardError, long PeakRssBytes);

/// <summary>
/// Runs a program to completion while polling its <c>/proc/PID/status</c> <c>VmHWM</c> (the kernel's own high-water
/// mark of the resident set, so polling misses nothing but growth in the last few milliseconds). Used the same way for
/// llama.cpp's tools and for our own benchmark child, so the peaks compare.
/// </summary>
static class MeasuredProcess
{
    public static ProcessResult Run(string program, IEnumerable<string> arguments, TimeSpan timeout, bool allowFailure = false)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        // The environment this program was started with: llama.cpp's OpenMP threads must not inherit the passive waiting
        // LlavaModal sets for itself (its barriers then sleep at every op: its 2-thread decode fell 2-8x); a child of ours
        // sets its defaults again.
        foreach (var name in LlavaModal.Core.Native.NativeEnvironment.Defaulted) start.Environment.Remove(name);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var status = $"/proc/{process.Id}/status";
        long peak = 0;
        var clock = Stopwatch.StartNew();
        while (!process.WaitForExit(20))
        {
            try { peak = Math.Max(peak, ProcStatus.Read(status).HwmBytes); }
            catch (Exception e) when (e is IOException or PlatformNotSupportedException) { } // exited (or a zombie) between the check and the read
            if (clock.Elapsed > timeout)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{Path.GetFileName(program)} {string.Join(' ', start.ArgumentList)} ran past {timeout.TotalSeconds:F0} s.");
            }
        }
        process.WaitForExit();
        var output = stdout.GetAwaiter().GetResult();
        var errors = stderr.GetAwaiter().GetResult();
        if (process.ExitCode != 0 && !allowFailure)
        {
            var tail = string.Join('\n', errors.Split('\n').TakeLast(15));
            throw new ChildProcessException($"{Path.GetFileName(program)} {string.Join(' ', start.ArgumentList)} exited with {process.ExitCode}:\n{tail}");
        }
        return new ProcessResult(output, errors, peak);
    }

    /// <summary>
    /// Runs this benchmark program in a hidden child <paramref name="mode"/> (a fresh process, so its peak RSS is its
    /// own) and reads the last JSON line it printed as <typeparamref name="T"/>.
    /// </summary>
    public static (T Result, long PeakRss) RunChild<T>(string mode, IEnumerable<string> arguments, TimeSpan timeout)
    {
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable's path.");
        // Under `dotnet LlavaModal.Benchmarks.dll` the process is the host, so pass the assembly too.
        string[] self = Path.GetFileNameWithoutExtension(exe) == "dotnet" ? [typeof(MeasuredProcess).Assembly.Location] : [];
        var run = Run(exe, [.. self, mode, .. arguments], timeout);
        var line = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.StartsWith('{'))
            ?? throw new InvalidOperationException($"{mode} printed no result:\n{run.StandardError}");
        return (JsonSerializer.Deserialize<T>(line)!, run.PeakRssBytes);
    }
}
