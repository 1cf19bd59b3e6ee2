using LlavaModal.Abstractions;

namespace LlavaModal.Cli;

/// <summary>Turns the errors a user can act on into one line on stderr and a non-zero exit code.</summary>
static class CliErrors
{
    public const int Failure = 1;
    public const int Usage = 2;

    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (LlavaModalException e) { return Fail(e.Message, Failure); }
        catch (ArgumentException e) { return Fail(e.Message, Usage); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException or FileNotFoundException or DirectoryNotFoundException)
        {
            return Fail(e.Message, Failure);
        }
        catch (OperationCanceledException) { return Fail("cancelled.", Failure); }
    }

    /// <summary>Prints each parse error as one <c>error:</c> line and where the command's help is; returns <see cref="Usage"/>.</summary>
    public static int UsageError(System.CommandLine.ParseResult parse)
    {
        foreach (var error in parse.Errors) Console.Error.WriteLine($"error: {error.Message}");
        var names = new List<string>();   // the subcommand path, without the root
        for (var r = parse.CommandResult; r.Parent is System.CommandLine.Parsing.CommandResult parent; r = parent) names.Insert(0, r.Command.Name);
        Console.Error.WriteLine($"Run 'llava-modal {string.Join(' ', names.Append("--help"))}' for usage.");
        return Usage;
    }

    static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }
}
