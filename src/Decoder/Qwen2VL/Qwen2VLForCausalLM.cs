using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Modules;
using LlavaModal.Decoder.Llama;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Qwen2VL;

/// <summary>
/// Qwen2-VL's language model with its vocabulary head: Qwen2's layers (the LLaMA modules with biased q/k/v) whose rotary
/// positions have three axes (M-RoPE). <see cref="PositionIds"/> is transformers' <c>get_rope_index</c>: text advances all
/// three axes together; an image or video grid of t x h x w merged patches starting at s takes (s + frame, s + row,
/// s + column); what follows continues after the largest position so far. Module paths equal the checkpoint's tensor names.
/// </summary>
public sealed class Qwen2VLForCausalLM : CausalLanguageModel
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LlamaModel model;
    readonly nn.Module<Tensor, Tensor>? lm_head;
#pragma warning restore IDE1006

    /// <summary>Creates the model (randomly initialised, or uninitialised inside a skip-init scope; weights are normally loaded right after).</summary>
    public Qwen2VLForCausalLM(Qwen2VLConfig config, ModelBuildContext build) : base(nameof(Qwen2VLForCausalLM), config, build.DType, build.Device)
    {
        Config = config;
        CacheDType = build.KvCacheDType ?? build.DType;
        model = new LlamaModel(config, build);
        lm_head = model.CreateHead(config, build);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public new Qwen2VLConfig Config { get; }

    /// <inheritdoc />
    public override Tensor Embed(Tensor inputIds) => model.Embed(inputIds);

    /// <inheritdoc />
    public override Tensor Forward(Tensor inputsEmbeds, Tensor positionIds, Tensor? padding = null, IKvCache? cache = null, bool lastOnly = false, List<Tensor>? hiddenStates = null) =>
        model.Logits(lm_head, inputsEmbeds, positionIds, padding, cache, lastOnly, hiddenStates);

    /// <inheritdoc />
    public override IBatchKvCache CreateCache(int rows, long capacity) => new KvCache(Config, rows, capacity, CacheDType, Device);

    /// <summary>M-RoPE positions [3, T] (temporal, height, width) of a prompt, as transformers' <c>get_rope_index</c>.</summary>
    public override Tensor PositionIds(IReadOnlyList<PromptSegment> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        long total = segments.Sum(s => (long)s.Length);
        var ids = new long[3 * total];
        long at = 0, next = 0;
        foreach (var segment in segments)
        {
            if (segment.Grid is { } grid && grid.Count == segment.Length)
            {
                long largest = next;
                for (int t = 0; t < grid.Frames; t++)
                    for (int h = 0; h < grid.Height; h++)
                        for (int w = 0; w < grid.Width; w++, at++)
                        {
                            ids[at] = next + t;
                            ids[total + at] = next + h;
                            ids[2 * total + at] = next + w;
                            largest = Math.Max(largest, Math.Max(next + t, Math.Max(next + h, next + w)));
                        }
                next = largest + 1;
            }
            else
            {
                // Text (or media without a grid) advances every axis together.
                for (int i = 0; i < segment.Length; i++, at++, next++)
                    ids[at] = ids[total + at] = ids[2 * total + at] = next;
            }
        }
        return tensor(ids, [3, total], ScalarType.Int64);
    }
}
