using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Siglip;

/// <summary>
/// Patch embedding (a convolution with bias, kernel = stride = patch) plus learned absolute position embeddings, one per
/// patch (no class token): [B, C, H, W] → [B, patches, hidden].
/// </summary>
sealed class SiglipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Conv2d patch_embedding;
    readonly Embedding position_embedding;
#pragma warning restore IDE1006
    readonly SiglipVisionConfig config;

    public SiglipVisionEmbeddings(SiglipVisionConfig c, ScalarType dtype, Device device) : base(nameof(SiglipVisionEmbeddings))
    {
        config = c;
        patch_embedding = nn.Conv2d(c.NumChannels, c.HiddenSize, c.PatchSize, stride: c.PatchSize, bias: true, device: device, dtype: dtype);
        position_embedding = WeightInit.Embedding(c.NumPatches, c.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != config.NumChannels || pixelValues.shape[2] != config.ImageSize || pixelValues.shape[3] != config.ImageSize)
            throw new ArgumentException($"SigLIP expects pixel values [B, {config.NumChannels}, {config.ImageSize}, {config.ImageSize}], got [{string.Join(", ", pixelValues.shape)}].", nameof(pixelValues));
        using var scope = NewDisposeScope();
        var patches = patch_embedding.forward(pixelValues.to(position_embedding.weight!.dtype)).flatten(2).transpose(1, 2); // [B, patches, hidden]
        return patches.Plus(position_embedding.weight!).MoveToOuterDisposeScope();
    }
}
