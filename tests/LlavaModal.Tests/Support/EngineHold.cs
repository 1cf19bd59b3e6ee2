using LlavaModal.Decoder.Generation;

namespace LlavaModal.Tests.Support;

/// <summary>Blocks a generation engine's worker until disposed, so requests submitted meanwhile are admitted together.</summary>
sealed class EngineHold : IDisposable
{
    readonly ManualResetEventSlim release = new();

    EngineHold(GenerationEngine engine)
    {
        using var held = new ManualResetEventSlim();
        _ = Task.Run(() => engine.Invoke(() => { held.Set(); release.Wait(); return 0; }));
        held.Wait();
    }

    public static EngineHold On(GenerationEngine engine) => new(engine);

    public void Dispose() => release.Set();
}
