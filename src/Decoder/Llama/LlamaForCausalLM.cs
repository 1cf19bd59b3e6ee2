using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>
/// The LLaMA language model with its vocabulary head (also Mistral's: the same layers with a sliding window). Module
/// paths equal the checkpoint's tensor names (<c>model.layers.0.self_attn.q_proj.weight</c>, <c>lm_head.weight</c>),
/// so loading is one name mapping.
/// </summary>
public sealed class LlamaForCausalLM : CausalLanguageModel
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LlamaModel model;
    readonly nn.Module<Tensor, Tensor>? lm_head;
#pragma warning restore IDE1006

    /// <summary>Creates the model (randomly initialised, or uninitialised inside a skip-init scope; weights are normally loaded right after).</summary>
    public LlamaForCausalLM(LlamaConfig config, ModelBuildContext build) : base(nameof(LlamaForCausalLM), config, build.DType, build.Device)
    {
        Config = config;
        CacheDType = build.KvCacheDType ?? build.DType;
        model = new LlamaModel(config, build);
        lm_head = model.CreateHead(config, build);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public new LlamaConfig Config { get; }

    /// <inheritdoc />
    public override Tensor Embed(Tensor inputIds) => model.Embed(inputIds);

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding = null, IKvCache? cache = null, bool lastOnly = false, List<Tensor>? hiddenStates = null) =>
        model.Logits(lm_head, inputsEmbeds, positionIds, padding, cache, lastOnly, hiddenStates);

    /// <inheritdoc />
    public override IBatchKvCache CreateCache(int rows, long capacity) => new KvCache(Config, rows, capacity, CacheDType, Device);
}
