using System.Runtime.CompilerServices;

namespace LlavaModal.Core.Native;

/// <summary>
/// Compiled into every LlavaModal assembly (see Directory.Build.targets): whichever of them is touched first makes
/// TorchSharp loadable before its own static constructor runs, so no caller needs a manual step.
/// </summary>
static class TorchNativeModuleInitializer
{
#pragma warning disable CA2255 // A library initialiser is the point: consumers must not need a manual step before the first tensor.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => TorchNativeRuntime.EnsureLoadable();
}
