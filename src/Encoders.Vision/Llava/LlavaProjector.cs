using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;

namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>
/// The projector of a LLaVA-family checkpoint: <c>projector_type</c> (<c>mlp2x_gelu</c> when absent) with activation
/// <c>projector_hidden_act</c>, from <c>multi_modal_projector.*</c> (below an optional <c>model.</c>), loaded strictly.
/// </summary>
static class LlavaProjector
{
    /// <summary>Builds the projector from the tower's width to the decoder's and loads its weights.</summary>
    /// <exception cref="ConfigException">An unknown type or activation (names the key).</exception>
    /// <exception cref="CheckpointException">The projector's tensors are missing or do not fit.</exception>
    public static ProjectorModule Load(ModalityLoadContext context, int inputWidth)
    {
        var config = context.Config;
        var type = config.String("projector_type", "mlp2x_gelu");
        var activation = config.String("projector_hidden_act", "gelu");
        ProjectorModule projector;
        try { projector = Projectors.Create(type, inputWidth, context.DecoderHiddenSize, activation, context.DType, context.Device, context.Build.Linear); }
        catch (ArgumentException e) { throw config.Error(e.ParamName == "name" ? "projector_hidden_act" : "projector_type", e.Message); }
        try
        {
            if (projector.Type != "identity")
            {
                var prefix = context.Weights.Find(LlavaVisionFactory.ProjectorPrefix, "linear_1.weight")
                    ?? throw new CheckpointException(context.ModelDirectory, $"no projector weights ({LlavaVisionFactory.ProjectorPrefix}linear_1.weight) in the checkpoint.");
                StateDictLoader.Load(projector, context.Weights, prefix);
            }
            projector.eval();
            return projector;
        }
        catch
        {
            projector.Dispose();
            throw;
        }
    }
}
