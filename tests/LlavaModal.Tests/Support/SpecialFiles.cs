using System.Diagnostics;

namespace LlavaModal.Tests.Support;

/// <summary>Named pipes and sparse files for the tests that hand readers what an attacker would.</summary>
public static class SpecialFiles
{
    /// <summary>Creates a FIFO at <paramref name="path"/> (opening it for reading would block until a writer comes).</summary>
    public static void Fifo(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    /// <summary>A file of <paramref name="bytes"/> bytes that takes no disk space (its content reads as zeros).</summary>
    public static void Sparse(string path, long bytes, byte[]? head = null)
    {
        using var f = new FileStream(path, FileMode.CreateNew);
        if (head is not null) f.Write(head);
        f.SetLength(bytes);
    }

    /// <summary>Runs <paramref name="action"/> and fails when it takes longer than <paramref name="seconds"/> (a blocking open would).</summary>
    public static T Within<T>(double seconds, Func<T> action)
    {
        var task = Task.Run(action);
        Assert.True(task.Wait(TimeSpan.FromSeconds(seconds)), $"did not finish within {seconds} s");
        return task.Result;
    }
}
