using LlavaModal.Abstractions.Layers;
using LlavaModal.Encoders.Vision.Clip;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Siglip;

/// <summary>
/// SigLIP's vision transformer (the checkpoint's <c>vision_model</c>): embeddings straight into the encoder (no
/// pre-layernorm), and <c>post_layernorm</c> on the last layer's output only, as transformers' <c>SiglipVisionTransformer</c>
/// computes <c>last_hidden_state</c>; the hidden states LLaVA selects are taken before it.
/// </summary>
sealed class SiglipVisionTransformer : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly SiglipVisionEmbeddings embeddings;
    readonly ClipEncoder encoder;
    readonly LayerNorm post_layernorm;
#pragma warning restore IDE1006

    public SiglipVisionTransformer(SiglipVisionConfig c, ModelBuildContext build) : base(nameof(SiglipVisionTransformer))
    {
        embeddings = new SiglipVisionEmbeddings(c, build.DType, build.Device);
        encoder = new ClipEncoder(c.EncoderShape, build);
        post_layernorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: build.Device, dtype: build.DType);
        RegisterComponents();
    }

    /// <summary>Hidden states 0..<paramref name="layers"/>: 0 = patch + position embeddings, i = output of encoder layer i.</summary>
    /// <param name="pixelValues">[B, C, H, W].</param>
    /// <param name="layers">How many encoder layers to run.</param>
    /// <param name="keep">Which states to return (null: all); the others are freed as soon as the next layer has read them.</param>
    /// <returns><paramref name="layers"/> + 1 entries, null where not kept.</returns>
    public Tensor?[] forward(Tensor pixelValues, int layers, Predicate<int>? keep = null)
    {
        using var scope = NewDisposeScope();
        var states = new Tensor?[layers + 1];
        encoder.forward(embeddings.forward(pixelValues), layers, (i, h) =>
        {
            if (!(keep?.Invoke(i) ?? true)) return false;
            states[i] = h;
            return true;
        });
        foreach (var s in states) s?.MoveToOuterDisposeScope();
        return states;
    }

    /// <summary><c>post_layernorm</c> of the last layer's output: transformers' <c>last_hidden_state</c>.</summary>
    public Tensor PostLayerNorm(Tensor lastLayerOutput) => post_layernorm.forward(lastLayerOutput);
}
