using System.Runtime.Intrinsics.X86;

namespace LlavaModal.Core.Kernels;

/// <summary>The instruction sets the kernels are written for, picked at run time.</summary>
public enum KernelIsa
{
    /// <summary>Plain C#: the fallback, and the reference the vector paths are tested against.</summary>
    Scalar,
    /// <summary>256-bit AVX2 with FMA.</summary>
    Avx2,
    /// <summary>512-bit AVX-512 (F and BW).</summary>
    Avx512,
}

/// <summary>Which <see cref="KernelIsa"/> this CPU runs.</summary>
public static class KernelIsas
{
    /// <summary>The widest instruction set this CPU supports.</summary>
    public static KernelIsa Best { get; } = IsSupported(KernelIsa.Avx512) ? KernelIsa.Avx512 : IsSupported(KernelIsa.Avx2) ? KernelIsa.Avx2 : KernelIsa.Scalar;

    /// <summary>True when this CPU (and the runtime) supports <paramref name="isa"/>.</summary>
    public static bool IsSupported(KernelIsa isa) => isa switch
    {
        KernelIsa.Scalar => true,
        KernelIsa.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelIsa.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported,
        _ => false,
    };

    /// <summary>The instruction sets this CPU supports, narrowest first.</summary>
    public static IReadOnlyList<KernelIsa> Supported { get; } = [.. Enum.GetValues<KernelIsa>().Where(IsSupported)];
}
