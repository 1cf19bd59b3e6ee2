using LlavaModal.Abstractions.Modality;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>
/// Another modality's projector, used without taking ownership: not disposable, so a second binding (a video one
/// sharing the image modality's projector) leaves it to its owner.
/// </summary>
sealed class SharedProjector(IProjector inner) : IProjector
{
    public string Type => inner.Type;

    public int InputWidth => inner.InputWidth;

    public int OutputWidth => inner.OutputWidth;

    public Tensor Project(Tensor features) => inner.Project(features);
}
