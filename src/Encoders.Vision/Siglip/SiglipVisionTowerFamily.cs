using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;

namespace LlavaModal.Encoders.Vision.Siglip;

/// <summary>The registration of the SigLIP vision tower: <c>vision_config.model_type</c> <c>siglip_vision_model</c> (LLaVA-Interleave, LLaVA-OneVision).</summary>
public sealed class SiglipVisionTowerFamily : IVisionTowerFamily
{
    /// <inheritdoc />
    public IReadOnlyList<string> ModelTypes { get; } = [SiglipVisionConfig.ModelTypeName];

    /// <inheritdoc />
    public string ProbeTensor => SiglipVisionModel.ProbeTensor;

    /// <inheritdoc />
    public VisionTower Load(JsonConfig config, FeatureSelection selection, IWeightSource? weights, string prefix, ModelBuildContext build)
    {
        var siglip = SiglipVisionConfig.FromJson(config);
        return weights is not null ? SiglipVisionModel.Load(weights, siglip, prefix, build, selection) : new SiglipVisionModel(siglip, selection, build);
    }
}
