using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Core.Quantization;

/// <summary>
/// Linear layers for a weight format on the CPU kernels: the decoder's projections (<c>q/k/v/o_proj</c>,
/// <c>gate/up/down_proj</c>) in <see cref="Format"/>; <c>lm_head</c> (or, when tied, a packed copy of the embedding
/// table) packed too, in <see cref="WeightFormat.Int8"/> under both quantized formats (its error goes straight into
/// the logits, so never 4 bits; llama.cpp's q4_0 mixture keeps it at 6 bits); any other layer gets TorchSharp's;
/// under int8/int4 an f32 model keeps its embedding table in bfloat16. Quantized formats need widths that are
/// multiples of 32; a layer that is not stays at the model's dtype. Encoders and projectors get
/// <see cref="ForEncoders"/>: their own precision, on the same kernels.
/// </summary>
public sealed class PackedLinearFactory : ILinearFactory
{
    static readonly HashSet<string> Projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
    readonly bool everyLayer;

    /// <summary>A factory packing to <paramref name="format"/>.</summary>
    public PackedLinearFactory(WeightFormat format) => Format = format;

    PackedLinearFactory(WeightFormat format, bool everyLayer) : this(format) => this.everyLayer = everyLayer;

    /// <summary>
    /// The factory for the encoders and projectors of a model loaded in this format: every linear layer packed in the
    /// float format of <paramref name="dtype"/> (f32, bf16 or f16: the weights keep the precision they would have as
    /// TorchSharp layers, and media run on the tiled product); TorchSharp's layers for any other dtype.
    /// </summary>
    public ILinearFactory ForEncoders(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => new PackedLinearFactory(WeightFormat.F32, everyLayer: true),
        ScalarType.BFloat16 => new PackedLinearFactory(WeightFormat.BF16, everyLayer: true),
        ScalarType.Float16 => new PackedLinearFactory(WeightFormat.F16, everyLayer: true),
        _ => TorchLinearFactory.Instance,
    };

    /// <summary>The weight format of the decoder's projections.</summary>
    public WeightFormat Format { get; }

    /// <inheritdoc />
    public string Name => Format.Name();

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor> Create(LinearSpec spec, ScalarType dtype, Device device)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var format = FormatOf(spec, dtype);
        if (format is null) return TorchLinearFactory.Instance.Create(spec, dtype, device);
        if (device.type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException($"Weight format {Format.Name()} runs on the CPU kernels only; device '{device}' asks for another (load with the default weights instead).", nameof(device));
        return new PackedLinear(spec.Name, spec.InFeatures, spec.OutFeatures, spec.Bias, format.Value, dtype);
    }

    /// <inheritdoc />
    /// <remarks>
    /// On the CPU, a <see cref="FileEmbedding"/> for an untied table; a tied table is held (its head packs from it, or,
    /// when the head stays a TorchSharp layer, multiplies by it every step). A held table is bfloat16 under the 8- and
    /// 4-bit formats (half an f32 table, for one row read a token).
    /// </remarks>
    public nn.Module<Tensor, Tensor>? CreateEmbedding(long count, long dimensions, LinearSpec? tiedHead, ScalarType dtype, Device device)
    {
        if (device.type != TorchSharp.DeviceType.CPU || (tiedHead is not null && FormatOf(tiedHead, dtype) is null)) return null;
        var held = Format.IsQuantized() && dtype == ScalarType.Float32 ? ScalarType.BFloat16 : dtype;
        // A tied table stays held as before: left in the file, or held in f32, OneVision-0.5B's int8 decode measured 20%
        // slower in alternating runs (27-34 against 39-44 tok/s; OpenMP threads spinning beside the kernels, cause open).
        if (tiedHead is not null) return Checkpoints.WeightInit.Embedding(count, dimensions, device: device, dtype: held);
        return new FileEmbedding("embed_tokens", count, dimensions, dtype, held);
    }

    /// <inheritdoc />
    public nn.Module<Tensor, Tensor>? CreateTied(LinearSpec spec, Func<Tensor> table, ScalarType dtype, Device device)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(table);
        var format = FormatOf(spec, dtype);
        if (format is null || device.type != TorchSharp.DeviceType.CPU) return null;
        return new PackedLinear(spec.Name, spec.InFeatures, spec.OutFeatures, spec.Bias, format.Value, dtype, table);
    }

    /// <summary>The format layer <paramref name="spec"/> is packed in, or null when it stays a TorchSharp layer.</summary>
    public WeightFormat? FormatOf(LinearSpec spec, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (everyLayer) return Format;
        bool head = spec.Name == "lm_head";
        if (!head && !Projections.Contains(spec.Name)) return null;
        var format = head && Format.IsQuantized() ? WeightFormat.Int8 : Format;
        return format.IsQuantized() && spec.InFeatures % WeightFormats.BlockSize != 0 ? null : format;
    }
}
