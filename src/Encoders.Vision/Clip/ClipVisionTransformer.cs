using LlavaModal.Abstractions.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>
/// The CLIP vision transformer: embeddings, <c>pre_layrnorm</c> (the reference's spelling), the encoder, and
/// <c>post_layernorm</c>, which is loaded so checkpoints match strictly but never applied: LLaVA reads raw
/// hidden states, not the pooled output.
/// </summary>
sealed class ClipVisionTransformer : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly ClipVisionEmbeddings embeddings;
    readonly LayerNorm pre_layrnorm;
    readonly ClipEncoder encoder;
    readonly LayerNorm post_layernorm;
#pragma warning restore IDE1006

    public ClipVisionTransformer(ClipVisionConfig c, ModelBuildContext build) : base(nameof(ClipVisionTransformer))
    {
        embeddings = new ClipVisionEmbeddings(c, build.DType, build.Device);
        pre_layrnorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: build.Device, dtype: build.DType);
        encoder = new ClipEncoder(c, build);
        post_layernorm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps, device: build.Device, dtype: build.DType);
        RegisterComponents();
    }

    /// <summary>Hidden states 0..<paramref name="layers"/>: 0 = normed embeddings, i = output of layer i.</summary>
    /// <param name="pixelValues">[B, C, H, W].</param>
    /// <param name="layers">How many encoder layers to run.</param>
    /// <param name="keep">Which states to return (null: all); the others are freed as soon as the next layer has read them.</param>
    /// <returns><paramref name="layers"/> + 1 entries, null where not kept.</returns>
    public Tensor?[] forward(Tensor pixelValues, int layers, Predicate<int>? keep = null)
    {
        using var scope = NewDisposeScope();
        var states = new Tensor?[layers + 1];
        Tensor normed;
        using (var embedded = embeddings.forward(pixelValues)) normed = pre_layrnorm.forward(embedded);
        encoder.forward(normed, layers, (i, h) =>
        {
            if (!(keep?.Invoke(i) ?? true)) return false;
            states[i] = h;
            return true;
        });
        foreach (var s in states) s?.MoveToOuterDisposeScope();
        return states;
    }
}
