namespace LlavaModal.Cli;

/// <summary>Sets torch's CPU thread count (after making the native library loadable, which LlavaModal types do lazily).</summary>
static class TorchThreads
{
    /// <summary>Most threads accepted: four per logical CPU (OpenMP starts every one of them; 100000 never returned).</summary>
    public static int Max => 4 * Environment.ProcessorCount;

    /// <exception cref="ArgumentException">The count is below 1 or above <see cref="Max"/> (names <paramref name="option"/>).</exception>
    public static void Set(int threads, string option = "--threads")
    {
        if (threads < 1 || threads > Max)
            throw new ArgumentException($"{option} {threads} is outside 1..{Max} (four per logical CPU of this machine; more threads only wait for each other).");
        LlavaModal.Core.Native.TorchNativeRuntime.ThrowIfUnavailable();
        TorchSharp.torch.set_num_threads(threads);
    }
}
