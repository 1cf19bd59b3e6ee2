using Microsoft.Extensions.Hosting;

namespace LlavaModal.Server.Hosting;

/// <summary>
/// A token cancelled a grace period after the server starts stopping: running requests may finish within it, then the
/// ones still running are cancelled (their generation stops at the next token), so shutdown is prompt and never cuts a
/// model call short in native code.
/// </summary>
sealed class ShutdownGrace : IDisposable
{
    readonly CancellationTokenSource source = new();
    readonly CancellationTokenRegistration registration;

    public ShutdownGrace(IHostApplicationLifetime lifetime, ServerOptions options) =>
        registration = lifetime.ApplicationStopping.Register(() => source.CancelAfter(options.ShutdownGrace));

    public CancellationToken Token => source.Token;

    public void Dispose()
    {
        registration.Dispose();
        source.Dispose();
    }
}
