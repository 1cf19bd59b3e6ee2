using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal.DependencyInjection;

/// <summary>
/// Binds a plugin instance from the container to a model: its projector (type chosen at registration) is read from
/// <c>{modality}_projector.*</c> in the checkpoint when present, otherwise freshly initialised (seeded) and logged
/// as untrained, ready for stage-1 training.
/// </summary>
sealed class RegisteredEncoderFactory(IModalityEncoder encoder, string projectorType, long seed) : IModalityEncoderFactory
{
    public string Modality => encoder.Modality;

    public ModalityBinding? TryLoad(ModalityLoadContext context)
    {
        var projector = Projectors.Create(projectorType, encoder.OutputWidth, context.DecoderHiddenSize, "gelu", context.DType, context.Device, context.Build.Linear);
        var prefix = $"{encoder.Modality}_projector.";
        if (projector.Type == "identity") { }
        else if (context.Weights.Find(prefix, "linear_1.weight") is { } stored)
        {
            StateDictLoader.Load(projector, context.Weights, stored);
        }
        else
        {
            using (no_grad())
            {
                var generator = new Generator((ulong)seed);
                foreach (var (_, p) in projector.named_parameters())
                {
                    using var values = normal(0, 0.02, p.shape, generator: generator);
                    p.copy_(values);
                }
            }
            LlavaLog.ProjectorInitialised(context.Logger, encoder.Modality, projectorType, prefix, context.ModelDirectory);
        }
        projector.eval();
        return new ModalityBinding(encoder, projector) { OwnsEncoder = false };
    }
}
