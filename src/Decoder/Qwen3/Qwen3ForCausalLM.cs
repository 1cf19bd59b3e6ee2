using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Qwen3;

/// <summary>
/// The Qwen3 language model with its vocabulary head (tied to the embeddings in the small checkpoints). Qwen3 is the
/// LLaMA decoder with an RMSNorm on each query and key head and Qwen2's sliding windows, so it is built from the LLaMA
/// modules; module paths equal the checkpoint's tensor names (<c>model.layers.0.self_attn.q_norm.weight</c>).
/// </summary>
public sealed class Qwen3ForCausalLM : CausalLanguageModel
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LlamaModel model;
    readonly nn.Module<Tensor, Tensor>? lm_head;
#pragma warning restore IDE1006

    /// <summary>Creates the model (randomly initialised, or uninitialised inside a skip-init scope; weights are normally loaded right after).</summary>
    public Qwen3ForCausalLM(Qwen3Config config, ModelBuildContext build) : base(nameof(Qwen3ForCausalLM), config, build.DType, build.Device)
    {
        Config = config;
        CacheDType = build.KvCacheDType ?? build.DType;
        model = new LlamaModel(config, build);
        lm_head = model.CreateHead(config, build);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public new Qwen3Config Config { get; }

    /// <inheritdoc />
    public override Tensor Embed(Tensor inputIds) => model.Embed(inputIds);

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding = null, IKvCache? cache = null, bool lastOnly = false, List<Tensor>? hiddenStates = null) =>
        model.Logits(lm_head, inputsEmbeds, positionIds, padding, cache, lastOnly, hiddenStates);

    /// <inheritdoc />
    public override IBatchKvCache CreateCache(int rows, long capacity) => new KvCache(Config, rows, capacity, CacheDType, Device);
}
