using LlavaModal.Abstractions.Tensors;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>Builds the additive attention mask: causal, padding and (Mistral) sliding window, filled with the dtype's minimum as the reference does.</summary>
public static class AttentionMask
{
    /// <param name="padding">[B, S] with 1 for real tokens and 0 for padding (S = past + T), or null for no padding.</param>
    /// <param name="batch">B.</param>
    /// <param name="past">Positions already in the cache.</param>
    /// <param name="length">T, new positions.</param>
    /// <param name="slidingWindow">Attend only to the last this-many positions, or null.</param>
    /// <param name="dtype">Compute dtype.</param>
    /// <param name="device">Device.</param>
    /// <returns>[B, 1, T, S].</returns>
    /// <summary>The mask for <paramref name="length"/> new positions after <paramref name="past"/> cached ones.</summary>
    public static Tensor Build(Tensor? padding, long batch, long past, long length, int? slidingWindow, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        long total = past + length;
        var keyPos = Scalars.Arange(0, total, device).unsqueeze(0);           // [1, S]
        var queryPos = Scalars.Arange(past, total, device).unsqueeze(1);      // [T, 1]
        var allowed = keyPos.le(queryPos);                                    // [T, S]
        if (slidingWindow is int w)
            allowed = allowed.logical_and(keyPos.gt(queryPos.AddScalar((long)-w)));
        var allowed4 = allowed.unsqueeze(0).unsqueeze(0).expand(batch, 1, length, total);
        if (padding is not null)
            allowed4 = allowed4.logical_and(padding.to(ScalarType.Bool).unsqueeze(1).unsqueeze(1));
        var min = dtype switch
        {
            ScalarType.Float16 => (double)Half.MinValue,
            ScalarType.BFloat16 => -3.3895313892515355e38,
            ScalarType.Float64 => double.MinValue,
            _ => float.MinValue,
        };
        var mask = zeros([batch, 1, length, total], dtype, device).MaskedFillScalar(allowed4.logical_not(), min);
        return mask.MoveToOuterDisposeScope();
    }
}
