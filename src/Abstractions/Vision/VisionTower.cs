using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Vision;

/// <summary>
/// The contract every vision tower implements (CLIP, SigLIP, ...): pixel values in, the selected feature vectors out.
/// Image plugins, training and benchmarks speak only this; module paths below it mirror the checkpoint's tensor names.
/// </summary>
public abstract class VisionTower : nn.Module
{
    /// <summary>Creates the base.</summary>
    /// <param name="name">Module name.</param>
    /// <param name="selection">The hidden states <see cref="Features"/> returns.</param>
    /// <param name="dtype">Weights and activations dtype.</param>
    /// <param name="device">Device.</param>
    protected VisionTower(string name, FeatureSelection selection, ScalarType dtype, Device device) : base(name)
    {
        ArgumentNullException.ThrowIfNull(selection);
        Selection = selection;
        DType = dtype;
        Device = device;
    }

    /// <summary>The hidden states <see cref="Features"/> returns.</summary>
    public FeatureSelection Selection { get; }

    /// <summary>The dtype of the weights and activations.</summary>
    public ScalarType DType { get; }

    /// <summary>The device the tower lives on.</summary>
    public Device Device { get; }

    /// <summary>The <c>model_type</c> of the tower's config (<c>clip_vision_model</c>).</summary>
    public abstract string ModelType { get; }

    /// <summary>Side of the square input, in pixels.</summary>
    public abstract int ImageSize { get; }

    /// <summary>Input channels.</summary>
    public abstract int NumChannels { get; }

    /// <summary>Width of each feature vector.</summary>
    public abstract int OutputWidth { get; }

    /// <summary>Feature vectors per image.</summary>
    public abstract int TokenCount { get; }

    /// <summary>
    /// The selected features [B, <see cref="TokenCount"/>, <see cref="OutputWidth"/>] of pixel values [B, C, H, W]; autograd
    /// follows the caller (a frozen tower is run under <c>no_grad</c>). Layers past the deepest selected one need not run.
    /// </summary>
    public abstract Tensor Features(Tensor pixelValues);

    /// <summary>The tower's config (<c>vision_config</c>), as <c>save_pretrained</c> writes it.</summary>
    public abstract Dictionary<string, object?> ToJsonObject();
}
