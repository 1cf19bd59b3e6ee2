using LlavaModal.Abstractions.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Core.Modules;

/// <summary>
/// Rotary position embedding (half-rotation layout) with the reference's scaling variants: the inverse
/// frequencies <c>1 / theta^(2i/d)</c>, divided by the factor (<c>linear</c>), re-based for long inputs
/// (<c>dynamic</c> NTK) or banded by wavelength (<c>llama3</c>). Holds no weights, so it is not a module.
/// One-axis positions read cos and sin from a table of every position computed so far (grown by doubling, per device
/// and dtype), so a decode step gathers one row instead of recomputing them; the table holds the same values the
/// computation gives (M-RoPE gathers each of its three axes from it). Dynamic scaling past the trained context computes them per call.
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
    readonly Dictionary<(DeviceType, int, ScalarType), (long Positions, Tensor Cos, Tensor Sin)> tables = [];

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
        return Rebased(sequenceLength) ? Computed(positionIds, sequenceLength, dtype) : FromTable(positionIds, sequenceLength, dtype);
    }

    /// <summary>True when dynamic scaling changes the frequencies at this length (the table holds the unscaled ones).</summary>
    bool Rebased(long sequenceLength) => scaling is { Type: "dynamic" } && sequenceLength > maxPositions;

    /// <summary>
    /// Rows of the table: positions of a forward are below its sequence length (cached + new; decoders number positions
    /// from 0, and M-RoPE's never run ahead of the token index), so the table covers that length and grows when a longer
    /// one comes. M-RoPE gathers each axis's rows, then mixes the frequency parts as the computation does.
    /// </summary>
    (Tensor Cos, Tensor Sin) FromTable(Tensor positionIds, long sequenceLength, ScalarType dtype)
    {
        var device = positionIds.device;
        var key = (device.type, device.index, dtype);
        if (!tables.TryGetValue(key, out var table) || table.Positions < sequenceLength)
        {
            long positions = Math.Max(256, table.Positions);
            while (positions < sequenceLength) positions *= 2;
            table.Cos?.Dispose();
            table.Sin?.Dispose();
            using var scope = NewDisposeScope();
            var all = Scalars.Arange(0, positions, device).unsqueeze(0);
            // Length 0: the unscaled frequencies, whatever the table's size (dynamic scaling rebases per call, not here).
            var (cos, sin) = Computed(all, 0, dtype);
            table = (positions, cos.squeeze(0).DetachFromDisposeScope(), sin.squeeze(0).DetachFromDisposeScope());
            tables[key] = table;
        }
        using var flat = positionIds.reshape(-1);
        long[] shape = [.. positionIds.shape, dim];
        using var c = table.Cos.index_select(0, flat);
        using var s = table.Sin.index_select(0, flat);
        if (positionIds.dim() != 3) return (c.view(shape), s.view(shape));
        using var perAxisCos = c.view(shape);
        using var perAxisSin = s.view(shape);
        using var mix = NewDisposeScope();
        return (MixAxes(perAxisCos).MoveToOuterDisposeScope(), MixAxes(perAxisSin).MoveToOuterDisposeScope());
    }

    /// <summary>Rotates <paramref name="x"/> [..., head_dim] by angles whose cos and <see cref="SignedSin"/> are given: <c>x cos + rotate_half(x) sin</c>.</summary>
    /// <remarks>rotate_half(x) · sin = cat(−x₂, x₁) · sin = roll(x, d/2) · cat(−sin₁, sin₂): one roll instead of two narrows, a negation and a cat, with the same products.</remarks>
    public static Tensor Rotate(Tensor x, Tensor cos, Tensor signedSin)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var rolled = x.roll(x.shape[^1] / 2, -1);
        var rotated = x * cos;
        return Scalars.With(1.0, one => rotated.addcmul_(rolled, signedSin, one));
    }

    /// <summary><c>cat(−sin₁, sin₂)</c> over the last dimension: <see cref="Rotate"/>'s second factor, computed once per forward for every layer.</summary>
    public static Tensor SignedSin(Tensor sin)
    {
        ArgumentNullException.ThrowIfNull(sin);
        long half = sin.shape[^1] / 2;
        var signed = sin.clone();
        using var first = signed.narrow(-1, 0, half);
        first.neg_();
        return signed;
    }

    /// <summary>cos and sin computed from the positions: the table's source, and the path of dynamic scaling past the trained context.</summary>
    internal (Tensor Cos, Tensor Sin) Computed(Tensor positionIds, long sequenceLength, ScalarType dtype)
    {
        bool axes = positionIds.dim() == 3;
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
