using System.Diagnostics;

namespace LlavaModal.Tests.Support;

/// <summary>Runs the built CLI (<c>llava-modal.dll</c> next to the tests) in its own process, as a user would.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => RunWithInput(null, args);

    /// <summary>Runs the CLI with <paramref name="stdin"/> piped to its standard input (closed afterwards), or no redirection when null.</summary>
    public static Result RunWithInput(string? stdin, params string[] args) => RunWith(stdin, null, args);

    /// <summary>Runs the CLI with environment variables changed (a null value removes one).</summary>
    public static Result RunWithEnvironment(IReadOnlyDictionary<string, string?> environment, params string[] args) => RunWith(null, environment, args);

    static Result RunWith(string? stdin, IReadOnlyDictionary<string, string?>? environment, string[] args)
    {
        // The dotnet host by full path, so a changed PATH does not hide it.
        var host = Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false };
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>()) info.Environment[key] = value;
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "llava-modal.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // A hang guard, far above the longest run (a LoRA training run: 1.5 min at load 12, over 3 at load 18).
        if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            p.Kill(true);
            throw new TimeoutException($"llava-modal {string.Join(' ', args)} did not finish");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
