using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Tensors;

/// <summary>Whether a tensor holds only finite numbers: NaN or infinite inputs and features are refused where they enter.</summary>
public static class Finite
{
    /// <summary>True when every element of <paramref name="tensor"/> is finite (always true for integer tensors).</summary>
    public static bool AllFinite(this Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!tensor.is_floating_point()) return true;
        using var finite = tensor.isfinite();
        using var all = finite.all();
        return all.item<bool>();
    }
}
