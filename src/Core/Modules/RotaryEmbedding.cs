using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>
/// Rotary position embedding (half-rotation layout) with the reference's scaling variants: the inverse
/// frequencies <c>1 / theta^(2i/d)</c>, divided by the factor (<c>linear</c>), re-based for long inputs
/// (<c>dynamic</c> NTK) or banded by wavelength (<c>llama3</c>). Holds no weights, so it is not a module.
/// </summary>
public sealed class RotaryEmbedding
{
    readonly int dim;
    readonly double theta;
    readonly RopeScaling? scaling;
    readonly int maxPositions;
    readonly double[] baseInvFreq;
    readonly long[]? mropeChunks;
    readonly Dictionary<(DeviceType, int, double), Tensor> cache = [];

    /// <summary>Rotary embedding over <paramref name="dim"/> channels per head.</summary>
    /// <param name="dim">Rotated channels (the head width).</param>
    /// <param name="theta">RoPE base (<c>rope_theta</c>).</param>
    /// <param name="scaling">Scaling variant, or null.</param>
    /// <param name="maxPositions">The context length the model was trained with (<c>max_position_embeddings</c>), for dynamic scaling.</param>
    /// <param name="mropeSection">
    /// Qwen2-VL's M-RoPE (<c>rope_scaling.mrope_section</c>, e.g. [16, 24, 24]): how many of the <c>dim / 2</c> frequencies follow
    /// the temporal, height and width position axes, in that order; null for ordinary one-axis positions.
    /// </param>
    /// <exception cref="ArgumentException">The section does not add up to <c>dim / 2</c>.</exception>
    public RotaryEmbedding(int dim, double theta, RopeScaling? scaling, int maxPositions, IReadOnlyList<int>? mropeSection = null)
    {
        if (mropeSection is not null && (mropeSection.Any(n => n <= 0) || mropeSection.Sum() != dim / 2))
            throw new ArgumentException($"mrope_section [{string.Join(", ", mropeSection)}] must split the {dim / 2} rotary frequencies of a {dim}-wide head into positive parts.", nameof(mropeSection));
        // Both halves of cos/sin (cat(freqs, freqs)) are split the same way: [t, h, w, t, h, w].
        mropeChunks = mropeSection is null ? null : [.. mropeSection.Concat(mropeSection).Select(n => (long)n)];
        this.dim = dim;
        this.theta = theta;
        this.scaling = scaling;
        this.maxPositions = maxPositions;
        baseInvFreq = InverseFrequencies(theta, dim);
        if (scaling is { Type: "linear" } linear)
            baseInvFreq = baseInvFreq.Select(f => f / linear.Factor).ToArray();
        else if (scaling is { Type: "llama3" } l3)
            baseInvFreq = Llama3(baseInvFreq, l3);
    }

    static double[] InverseFrequencies(double theta, int dim) =>
        Enumerable.Range(0, dim / 2).Select(i => 1.0 / Math.Pow(theta, 2.0 * i / dim)).ToArray();

    static double[] Llama3(double[] invFreq, RopeScaling s)
    {
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        return invFreq.Select(f =>
        {
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) return f;
            if (wavelen > lowWavelen) return f / s.Factor;
            double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
            return (1 - smooth) * f / s.Factor + smooth * f;
        }).ToArray();
    }

    /// <summary>
    /// cos and sin for <paramref name="positionIds"/> [B, T], shaped [B, T, head_dim] in <paramref name="dtype"/>.
    /// <paramref name="sequenceLength"/> (cache + new tokens, known on the host) drives dynamic scaling. With M-RoPE,
    /// positions may be [3, B, T] (temporal, height, width): each axis's angles are computed, and each part of the
    /// frequencies takes its axis's (transformers' <c>apply_multimodal_rotary_pos_emb</c>).
    /// </summary>
    /// <exception cref="ArgumentException">Positions with axes but no M-RoPE section.</exception>
    public (Tensor Cos, Tensor Sin) Compute(Tensor positionIds, long sequenceLength, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(positionIds);
        bool axes = positionIds.dim() == 3;
        if (axes && mropeChunks is null) throw new ArgumentException("Positions [axes, B, T] need an M-RoPE section (mrope_section).", nameof(positionIds));
        var invFreq = InvFreq(positionIds.device, sequenceLength);
        using var scope = NewDisposeScope();
        var freqs = positionIds.to(ScalarType.Float32).unsqueeze(-1) * invFreq; // [(axes,) B, T, d/2]
        var emb = cat([freqs, freqs], -1);
        var cos = emb.cos();
        var sin = emb.sin();
        if (axes)
        {
            cos = MixAxes(cos);
            sin = MixAxes(sin);
        }
        return (cos.to(dtype).MoveToOuterDisposeScope(), sin.to(dtype).MoveToOuterDisposeScope());
    }

    /// <summary>[3, B, T, d] → [B, T, d]: chunk i of the last dimension from axis i mod 3.</summary>
    Tensor MixAxes(Tensor perAxis)
    {
        var chunks = perAxis.split(mropeChunks!, -1);
        return cat([.. chunks.Select((chunk, i) => chunk[i % 3])], -1);
    }

    Tensor InvFreq(Device device, long sequenceLength)
    {
        double scaleKey = 0;
        var values = baseInvFreq;
        if (scaling is { Type: "dynamic" } dyn && sequenceLength > maxPositions)
        {
            double b = theta * Math.Pow(dyn.Factor * sequenceLength / maxPositions - (dyn.Factor - 1), dim / (dim - 2.0));
            values = InverseFrequencies(b, dim);
            scaleKey = sequenceLength;
        }
        var key = (device.type, device.index, scaleKey);
        if (!cache.TryGetValue(key, out var t))
        {
            // Rounded to float32 as the reference stores them, then used in float32.
            t = tensor(values.Select(v => (float)v).ToArray(), device: device).DetachFromDisposeScope();
            if (scaleKey == 0) cache[key] = t;
        }
        return t;
    }
}
