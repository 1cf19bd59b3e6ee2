using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Decoding;

/// <summary>
/// The contract every decoder family implements (LLaMA, Mistral, Qwen2, ...): embed ids, run the decoder over input
/// embeddings with positions, a padding mask and a KV cache, and say what generation needs to know. Generation,
/// batching, training and the services speak only this; module paths below it mirror the checkpoint's tensor names.
/// </summary>
public abstract class CausalLanguageModel : nn.Module
{
    /// <summary>Creates the base with the facts every decoder carries.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="config">The architecture.</param>
    /// <param name="dtype">Weights and activations dtype.</param>
    /// <param name="device">Device the weights live on.</param>
    protected CausalLanguageModel(string name, IDecoderConfig config, ScalarType dtype, Device device) : base(name)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        DType = dtype;
        Device = device;
    }

    /// <summary>The architecture.</summary>
    public IDecoderConfig Config { get; }

    /// <summary>The dtype of the weights and activations.</summary>
    public ScalarType DType { get; }

    /// <summary>The device the model lives on.</summary>
    public Device Device { get; }

    /// <summary>The dtype <see cref="CreateCache"/> stores keys and values in: <see cref="DType"/> unless the model was built with another (<see cref="Layers.ModelBuildContext.KvCacheDType"/>).</summary>
    public ScalarType CacheDType
    {
        get => cacheDType ?? DType;
        protected init => cacheDType = value;
    }

    readonly ScalarType? cacheDType;

    /// <summary>Number of parameters, those of packed layers (<see cref="IHoldsOwnWeights"/>) included.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel()) + modules().OfType<IHoldsOwnWeights>().Sum(m => m.WeightCount);

    /// <summary>Token embeddings of <paramref name="inputIds"/> [B, T] (or [T]).</summary>
    public abstract Tensor Embed(Tensor inputIds);

    /// <summary>Runs the decoder and the vocabulary head.</summary>
    /// <param name="inputsEmbeds">[B, T, hidden].</param>
    /// <param name="positionIds">[B, T] int64, or [axes, B, T] when <see cref="IDecoderConfig.PositionDimensions"/> is above 1.</param>
    /// <param name="padding">[B, past + T] with 1 for real tokens and 0 for padding, or null when nothing is padded.</param>
    /// <param name="cache">Cache to read and extend, or null for a cache-free forward.</param>
    /// <param name="lastOnly">Logits for the last position only (generation).</param>
    /// <param name="hiddenStates">Receives the input embeddings and every layer's output (the last one normed), as the reference's <c>output_hidden_states</c>.</param>
    /// <returns>Logits [B, T or 1, vocab] in float32.</returns>
    public abstract Tensor Forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding = null, IKvCache? cache = null, bool lastOnly = false, List<Tensor>? hiddenStates = null);

    /// <summary>A cache of <paramref name="rows"/> sequences of <paramref name="capacity"/> positions each (it grows on demand).</summary>
    public abstract IBatchKvCache CreateCache(int rows, long capacity);

    /// <summary>
    /// Position ids [axes, T] (int64, CPU) of a prompt made of <paramref name="segments"/>. The default numbers positions
    /// 0..T-1 on every axis; a family with multi-axis positions (M-RoPE) places media segments by their grid. Decoding
    /// continues from the largest prompt position + 1 on every axis.
    /// </summary>
    public virtual Tensor PositionIds(IReadOnlyList<PromptSegment> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        long total = segments.Sum(s => (long)s.Length);
        return Scalars.Arange(0, total).unsqueeze(0).expand(Config.PositionDimensions, total).contiguous();
    }
}
