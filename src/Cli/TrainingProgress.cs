using LlavaModal.Training;
using Spectre.Console;

namespace LlavaModal.Cli;

/// <summary>Progress bars (Spectre.Console) with loss, learning rate and samples per second; plain lines when output is redirected.</summary>
static class TrainingProgress
{
    public static T Run<T>(Func<Action<string, TrainProgress>, T> work)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            var last = DateTime.UtcNow;
            return work((phase, p) =>
            {
                if (p.Step == p.TotalSteps || p.EvalLoss is not null || (DateTime.UtcNow - last).TotalSeconds >= 10)
                {
                    last = DateTime.UtcNow;
                    Console.WriteLine(Line(phase, p));
                }
            });
        }
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work((phase, p) =>
                {
                    if (!tasks.TryGetValue(phase, out var task)) tasks[phase] = task = ctx.AddTask(phase, maxValue: p.TotalSteps);
                    task.Value = p.Step;
                    task.Description = Markup.Escape(Line(phase, p));
                });
            });
        return result;
    }

    static string Line(string phase, TrainProgress p) =>
        $"{phase} {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:E2} {p.SamplesPerSecond:F1} samples/s" + (p.EvalLoss is double e ? $" eval {e:F4}" : "");
}
