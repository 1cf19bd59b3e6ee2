using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>
/// Patch embedding (a bias-free convolution with kernel = stride = patch), a learned CLS token prepended, and
/// learned absolute position embeddings added: [B, C, H, W] → [B, 1 + patches, hidden].
/// </summary>
sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Parameter class_embedding;
    readonly Conv2d patch_embedding;
    readonly Embedding position_embedding;
#pragma warning restore IDE1006
    readonly ClipVisionConfig config;

    public ClipVisionEmbeddings(ClipVisionConfig c, ScalarType dtype, Device device) : base(nameof(ClipVisionEmbeddings))
    {
        config = c;
        class_embedding = new Parameter(zeros(c.HiddenSize, dtype: dtype, device: device));
        patch_embedding = nn.Conv2d(c.NumChannels, c.HiddenSize, c.PatchSize, stride: c.PatchSize, bias: false, device: device, dtype: dtype);
        position_embedding = WeightInit.Embedding(c.NumPositions, c.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != config.NumChannels || pixelValues.shape[2] != config.ImageSize || pixelValues.shape[3] != config.ImageSize)
            throw new ArgumentException($"CLIP expects pixel values [B, {config.NumChannels}, {config.ImageSize}, {config.ImageSize}], got [{string.Join(", ", pixelValues.shape)}].", nameof(pixelValues));
        using var scope = NewDisposeScope();
        long b = pixelValues.shape[0];
        var patches = patch_embedding.forward(pixelValues.to(class_embedding.dtype)).flatten(2).transpose(1, 2); // [B, patches, hidden]
        var cls = class_embedding.expand(b, 1, config.HiddenSize);
        var embeddings = cat([cls, patches], 1).Plus(position_embedding.weight!);
        return embeddings.MoveToOuterDisposeScope();
    }
}
