namespace LlavaModal.Samples.MoleculeGraph.Tests;

/// <summary>A temporary folder removed at the end of a test.</summary>
sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llavamodal-graph-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, true); }
        catch (DirectoryNotFoundException) { }
    }
}

/// <summary>Where the sample's files land next to the tests.</summary>
static class Shipped
{
    /// <summary>The sample's trained model.</summary>
    public static string Model => System.IO.Path.Combine(AppContext.BaseDirectory, "model");

    /// <summary>The image toy model the sample trains onto.</summary>
    public static string BaseModel => System.IO.Path.Combine(AppContext.BaseDirectory, "base-model");

    /// <summary>Runs the sample's binary as a user would (<c>dotnet LlavaModal.Samples.MoleculeGraph.dll ...</c>).</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(System.IO.Path.Combine(AppContext.BaseDirectory, "LlavaModal.Samples.MoleculeGraph.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(true);
            throw new TimeoutException($"sample {string.Join(' ', args)} did not finish");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
