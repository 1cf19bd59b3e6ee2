namespace LlavaModal.Cli;

/// <summary>Sets torch's CPU thread count (after making the native library loadable, which LlavaModal types do lazily).</summary>
static class TorchThreads
{
    /// <summary>Most threads accepted: four per logical CPU (OpenMP starts every one of them; 100000 never returned).</summary>
    public static int Max => 4 * Environment.ProcessorCount;

    /// <summary>
    /// The default of every <c>--threads</c>: the CPUs this process may use (affinity and container quota included),
    /// at most 16 (past that libtorch's own kernels stop gaining on one request). Safe on a busy machine because OpenMP's
    /// threads wait passively (set by LlavaModal.Core before libtorch loads, unless the user chose a policy).
    /// </summary>
    public static int Default => Math.Clamp(Environment.ProcessorCount, 1, 16);

    /// <summary>The <c>--threads</c> option with <see cref="Default"/>.</summary>
    public static System.CommandLine.Option<int> Option() =>
        new("--threads") { Description = $"CPU threads for torch, 1 to {Max} (default: the CPUs this process may use, at most 16).", DefaultValueFactory = _ => Default };

    /// <exception cref="ArgumentException">The count is below 1 or above <see cref="Max"/> (names <paramref name="option"/>).</exception>
    public static void Set(int threads, string option = "--threads")
    {
        if (threads < 1 || threads > Max)
            throw new ArgumentException($"{option} {threads} is outside 1..{Max} (four per logical CPU of this machine; more threads only wait for each other).");
        LlavaModal.Core.Native.TorchNativeRuntime.ThrowIfUnavailable();
        TorchSharp.torch.set_num_threads(threads);
        // The weight-format kernels run on their own threads (more than the CPUs only wait for each other).
        LlavaModal.Core.Kernels.KernelPool.UseThreads(Math.Min(threads, Environment.ProcessorCount));
    }
}
