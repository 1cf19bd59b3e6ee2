using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Core.Checkpoints;

/// <summary>
/// Layer factories that can skip random initialisation. Loading a checkpoint overwrites every weight, and
/// TorchSharp's <c>nn.Linear</c> / <c>nn.Embedding</c> would otherwise spend ~90% of a load drawing random numbers
/// (measured: 5.7 s of a 6 s load of a 1.1B model); inside <see cref="SkipRandomInit"/> they get uninitialised memory.
/// </summary>
public static class WeightInit
{
    [ThreadStatic] static int skipDepth;

    /// <summary>Within the returned scope (on this thread), layers created through this class are not randomly initialised.</summary>
    public static IDisposable SkipRandomInit()
    {
        skipDepth++;
        return new Scope();
    }

    /// <summary>True inside <see cref="SkipRandomInit"/>.</summary>
    public static bool Skipping => skipDepth > 0;

    /// <summary><c>nn.Linear</c>, uninitialised inside <see cref="SkipRandomInit"/>.</summary>
    public static Linear Linear(long inputSize, long outputSize, bool hasBias = true, Device? device = null, ScalarType? dtype = null)
    {
        if (!Skipping) return nn.Linear(inputSize, outputSize, hasBias, device, dtype);
        var weight = new Parameter(empty([outputSize, inputSize], dtype, device));
        return nn.Linear(weight, hasBias ? new Parameter(empty([outputSize], dtype, device)) : null);
    }

    /// <summary><c>nn.Embedding</c>, uninitialised inside <see cref="SkipRandomInit"/>.</summary>
    public static Embedding Embedding(long count, long dimensions, Device? device = null, ScalarType? dtype = null)
    {
        bool meta = device?.type == DeviceType.META;
        if (!Skipping && !meta) return nn.Embedding(count, dimensions, device: device, dtype: dtype);
        // Built with one row, then given the real storage: TorchSharp's nn.Embedding draws its whole table on the CPU
        // even for the meta device and keeps it alive (a 32000 x 2048 bf16 table: 139 MiB more for the whole run).
        var embedding = nn.Embedding(1, dimensions, dtype: dtype);
        embedding.weight = new Parameter(empty([count, dimensions], dtype, device));
        return embedding;
    }

    sealed class Scope : IDisposable
    {
        bool disposed;

        public void Dispose()
        {
            if (disposed) return;
            disposed = true;
            skipDepth--;
        }
    }
}
