using System.Diagnostics;
using Spectre.Console;

namespace LlavaModal.Cli;

/// <summary>
/// What long commands show while they work, on stderr so stdout stays their output (pipes, <c>--json</c>): a live
/// spinner or progress bar (Spectre.Console) in a terminal; when stderr is redirected, one plain line per quarter of the
/// work for jobs that report their units (eval, init), and nothing for a model load.
/// </summary>
static class CliProgress
{
    static readonly Lazy<IAnsiConsole> Err = new(() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }));

    static bool Live => !Console.IsErrorRedirected && Err.Value.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="work"/> under a spinner saying <paramref name="doing"/> with the elapsed time.</summary>
    public static T Status<T>(string doing, Func<T> work)
    {
        if (!Live) return work();
        T result = default!;
        var clock = Stopwatch.StartNew();
        Err.Value.Status().Spinner(Spinner.Known.Dots).Start(Markup.Escape(doing), _ => result = work());
        Err.Value.MarkupLine($"[grey]{Markup.Escape(doing)} done in {clock.Elapsed.TotalSeconds:F1} s[/]");
        return result;
    }

    /// <summary>Loads a model under a spinner naming its folder.</summary>
    public static T Loading<T>(string directory, Func<T> load) =>
        Status($"Loading {Path.GetFileName(Path.TrimEndingDirectorySeparator(directory))}", load);

    /// <summary>
    /// Runs <paramref name="work"/>, which reports how many of <paramref name="total"/> units are done; a progress bar in a
    /// terminal, else lines like <c>eval: 150/600 questions (25%), 3.1 s</c> at each quarter.
    /// </summary>
    public static T Run<T>(string name, long total, string unit, Func<Action<long>, T> work)
    {
        var clock = Stopwatch.StartNew();
        if (!Live)
        {
            int reported = 0;
            var gate = new Lock();
            return work(done =>
            {
                int quarter = total <= 0 ? 4 : (int)Math.Min(4, Math.Min(done, total) * 4 / total);
                lock (gate)
                {
                    if (quarter <= reported) return;
                    reported = quarter;
                }
                Console.Error.WriteLine($"{name}: {Math.Min(done, total)}/{total} {unit} ({quarter * 25}%), {clock.Elapsed.TotalSeconds:F1} s");
            });
        }
        T result = default!;
        Err.Value.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape($"{name} ({total} {unit})"), maxValue: total);
                result = work(done => task.Value = Math.Min(done, total));
                task.Value = total;
            });
        return result;
    }
}
