using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>
/// Runs ffmpeg or ffprobe as a child process: arguments as a list (no shell), the video's bytes piped on stdin (or stdin
/// closed when the input is a file), stdout read by the caller, stderr drained and its tail kept for messages; a timeout
/// or a cancellation kills the whole process tree.
/// </summary>
static class ToolProcess
{
    /// <summary>Characters of stderr kept for messages.</summary>
    public const int TailChars = 1500;

    /// <summary>Runs the tool; returns its exit code and stderr tail once it has exited and <paramref name="readOutput"/> has returned.</summary>
    /// <exception cref="VideoDecodeException">It cannot start, or runs past <paramref name="timeout"/>; or <paramref name="readOutput"/> threw one (the process is killed first).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled (the process is killed).</exception>
    public static (int ExitCode, string StderrTail) Run(string executable, IReadOnlyList<string> arguments, ReadOnlyMemory<byte>? stdin,
        Action<Stream> readOutput, TimeSpan timeout, string source, CancellationToken cancellation, int tailChars = TailChars)
    {
        cancellation.ThrowIfCancellationRequested();
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            CreateNoWindow = true,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = new Process { StartInfo = start };
        try { process.Start(); }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            throw new VideoDecodeException(source, $"could not start {executable}: {e.Message}", inner: e);
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        limit.CancelAfter(timeout);
        using var kill = limit.Token.Register(() => Kill(process));
        var stderr = Task.Run(() => Tail(process.StandardError.BaseStream, tailChars));
        var writer = Task.Run(() => Feed(process.StandardInput.BaseStream, stdin));
        try
        {
            readOutput(process.StandardOutput.BaseStream);
        }
        catch (Exception e) when (limit.IsCancellationRequested && e is not OperationCanceledException)
        {
            // Killed under the reader: the timeout or the cancellation is the cause, not the cut output.
        }
        catch
        {
            Kill(process);
            process.WaitForExit();
            throw;
        }
        finally
        {
            if (limit.IsCancellationRequested) Kill(process);
        }
        process.WaitForExit();
        writer.Wait(CancellationToken.None);
        var tail = stderr.Result;
        cancellation.ThrowIfCancellationRequested();
        if (limit.IsCancellationRequested)
            throw new VideoDecodeException(source, $"{Path.GetFileName(executable)} took longer than {timeout.TotalSeconds:0.#} s (VideoOptions.FfmpegTimeout) and was stopped.", tail);
        return (process.ExitCode, tail);
    }

    static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception or NotSupportedException) { }
    }

    /// <summary>Writes the video to stdin and closes it; a tool that stops reading early (an error, or all frames read) closes the pipe, which is not an error here.</summary>
    static void Feed(Stream stdin, ReadOnlyMemory<byte>? data)
    {
        try
        {
            if (data is { } bytes) stdin.Write(bytes.Span);
        }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
        finally
        {
            try { stdin.Dispose(); }
            catch (IOException) { }
        }
    }

    /// <summary>Reads stderr to its end, keeping the last <paramref name="tailChars"/> characters.</summary>
    static string Tail(Stream stderr, int tailChars)
    {
        var buffer = new byte[8192];
        var kept = new Queue<byte>();
        try
        {
            int n;
            while ((n = stderr.Read(buffer)) > 0)
                for (int i = 0; i < n; i++)
                {
                    kept.Enqueue(buffer[i]);
                    if (kept.Count > tailChars * 2) kept.Dequeue();
                }
        }
        catch (IOException) { }
        var text = Encoding.UTF8.GetString([.. kept]);
        return text.Length > tailChars ? text[^tailChars..] : text;
    }
}
