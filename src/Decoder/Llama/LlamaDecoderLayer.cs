using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Decoder.Llama;

/// <summary>Pre-norm decoder layer: <c>h = x + attn(norm(x)); out = h + mlp(norm(h))</c>.</summary>
internal sealed class LlamaDecoderLayer : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly LlamaAttention self_attn;
    readonly LlamaMlp mlp;
    readonly LlamaRmsNorm input_layernorm, post_attention_layernorm;
#pragma warning restore IDE1006

    public LlamaDecoderLayer(LlamaConfig c, int index, ScalarType dtype, Device? device) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(c, index, dtype, device);
        mlp = new LlamaMlp(c, dtype, device);
        input_layernorm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps, dtype, device);
        post_attention_layernorm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps, dtype, device);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor mask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.forward(input_layernorm.forward(x), cos, sin, mask, cache);
        var output = h + mlp.forward(post_attention_layernorm.forward(h));
        return output.MoveToOuterDisposeScope();
    }
}
