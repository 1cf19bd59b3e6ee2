using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>The LLaMA decoder stack: token embeddings, N pre-norm decoder layers, final RMSNorm.</summary>
sealed class LlamaModel : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Embedding embed_tokens;
    readonly ModuleList<LlamaDecoderLayer> layers;
    readonly RmsNorm norm;
#pragma warning restore IDE1006
    readonly LlamaConfig config;
    readonly RotaryEmbedding rotary;

    public LlamaModel(LlamaConfig c, ModelBuildContext build) : base(nameof(LlamaModel))
    {
        config = c;
        embed_tokens = WeightInit.Embedding(c.VocabSize, c.HiddenSize, device: build.Device, dtype: build.DType);
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(i => new LlamaDecoderLayer(c, i, build)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps, build.DType, build.Device);
        rotary = new RotaryEmbedding(c.HeadDim, c.RopeTheta, c.RopeScaling, c.MaxPositionEmbeddings);
        RegisterComponents();
    }

    public Embedding EmbedTokens => embed_tokens;

    /// <param name="inputsEmbeds">[B, T, hidden].</param>
    /// <param name="positionIds">[B, T] int64.</param>
    /// <param name="padding">[B, past + T], 1 for real tokens, 0 for padding; null when nothing is padded.</param>
    /// <param name="cache">Cache to read and extend, or null.</param>
    /// <param name="hiddenStates">When given, receives the embeddings and every layer's output (the last one normed), as the reference's <c>output_hidden_states</c>.</param>
    /// <returns>Final normed hidden states [B, T, hidden].</returns>
    public Tensor forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding, IKvCache? cache, List<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0;
        var (cos, sin) = rotary.Compute(positionIds, past + t, inputsEmbeds.dtype);
        var mask = AttentionMask.Build(padding, b, past, t, config.SlidingWindow, inputsEmbeds.dtype, inputsEmbeds.device);
        var h = inputsEmbeds;
        foreach (var layer in layers)
        {
            hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
            h = layer.forward(h, cos, sin, mask, cache);
        }
        cache?.Advance(t);
        var output = norm.forward(h).MoveToOuterDisposeScope();
        hiddenStates?.Add(output.alias().MoveToOuterDisposeScope());
        return output;
    }
}
