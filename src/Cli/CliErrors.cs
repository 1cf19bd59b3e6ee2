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

    static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }
}
