using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Cli;

/// <summary>What the command line promises: exit code 2 with the parser's message for bad usage, progress for long work, --threads defaults.</summary>
public class CliUsageTests
{
    [Theory]
    [InlineData("Unrecognized command or argument '--bogus'", "llava-modal generate --help", "generate", "--prompt", "x", "--bogus")]
    [InlineData("Option '--out' is required", "llava-modal init --help", "init", "--preset", "tiny")]
    [InlineData("Cannot parse argument 'many' for option '--scenes'", "llava-modal eval --help", "eval", "--scenes", "many")]
    [InlineData("Unrecognized command or argument 'generat'", "llava-modal --help", "generat")]
    public void Bad_usage_exits_2_with_the_parsers_message_and_a_pointer_to_help_not_the_help_itself(string message, string hint, params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"error: {message}", r.Stderr);
        Assert.Contains($"Run '{hint}' for usage.", r.Stderr);
        Assert.DoesNotContain("Options:", r.Stderr + r.Stdout);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void No_command_lists_the_commands_and_exits_2()
    {
        var r = CliRunner.Run();
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("generate", r.Stdout);
        Assert.Contains("Commands:", r.Stdout);
    }

    [Fact]
    public void Eval_reports_its_progress_on_stderr_and_keeps_stdout_for_the_result()
    {
        var r = CliRunner.Run("eval", "--scenes", "8", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // 24 questions answered in batches of 24: one report, at 100%.
        Assert.Contains(lines, l => l.StartsWith("eval: 24/24 questions (100%), ", StringComparison.Ordinal));
        Assert.StartsWith("{", r.Stdout.TrimStart());   // --json output unmixed
    }

    [Fact]
    public void Eval_reports_each_quarter_of_a_longer_run()
    {
        var r = CliRunner.Run("eval", "--scenes", "40", "--threads", "1");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var progress = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("eval: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["25%", "50%", "75%", "100%"], progress.Select(l => l[(l.IndexOf('(') + 1)..l.IndexOf(')')]));
        Assert.Contains("120/120 questions", progress[^1]);
    }

    [Fact]
    public void Init_reports_the_weights_written()
    {
        using var dir = new TempDir();
        var target = Path.Combine(dir.Path, "model");
        var r = CliRunner.Run("init", "--preset", "tiny", "--out", target);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(@"init: 1/1 MB \(100%\), \d+\.\d s", r.Stderr);
        Assert.Contains("wrote tiny", r.Stdout);
    }

    [Fact]
    public void Threads_default_to_the_available_cpus_and_out_of_range_counts_are_usage_errors()
    {
        var help = CliRunner.Run("generate", "--help");
        Assert.Contains($"[default: {Math.Clamp(Environment.ProcessorCount, 1, 16)}]", help.Stdout.Split('\n').Single(l => l.Contains("--threads", StringComparison.Ordinal)));
        var r = CliRunner.Run("generate", "--model", Fixtures.LlamaTiny, "--prompt", "x", "--threads", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--threads 0 is outside 1..", r.Stderr);
    }
}
