using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>Pre-norm decoder layer: <c>h = x + attn(norm(x)); out = h + mlp(norm(h))</c>.</summary>
sealed class LlamaDecoderLayer : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LlamaAttention self_attn;
    readonly LlamaMlp mlp;
    readonly RmsNorm input_layernorm, post_attention_layernorm;
#pragma warning restore IDE1006

    public LlamaDecoderLayer(ILlamaLayers c, int index, ModelBuildContext build) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(c, index, build);
        mlp = new LlamaMlp(c, build);
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, build.DType, build.Device);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, build.DType, build.Device);
        RegisterComponents();
    }

    internal LlamaAttention SelfAttention => self_attn;
    internal LlamaMlp Mlp => mlp;
    internal RmsNorm InputNorm => input_layernorm;
    internal RmsNorm PostAttentionNorm => post_attention_layernorm;

    // causal: the mask is exactly causal over the cached and new positions, nothing padded or windowed (see LlamaAttention).
    public Tensor forward(Tensor x, Tensor cos, Tensor signedSin, Tensor? mask, IKvCache? cache, bool causal = false)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(self_attn.forward(input_layernorm.forward(x), cos, signedSin, mask, cache, causal));
        var output = h.Plus(mlp.forward(post_attention_layernorm.forward(h)));
        return output.MoveToOuterDisposeScope();
    }
}
