namespace LlavaModal.Cli;

/// <summary>Sets torch's CPU thread count (after making the native library loadable, which LlavaModal types do lazily).</summary>
static class TorchThreads
{
    public static void Set(int threads)
    {
        LlavaModal.Core.Native.TorchNativeRuntime.EnsureLoadable();
        TorchSharp.torch.set_num_threads(Math.Max(1, threads));
    }
}
