using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;

namespace LlavaModal.Encoders.Vision.Clip;

/// <summary>The registration of the CLIP vision tower: <c>vision_config.model_type</c> <c>clip_vision_model</c> (LLaVA-1.5, LLaVA-NeXT).</summary>
public sealed class ClipVisionTowerFamily : IVisionTowerFamily
{
    /// <inheritdoc />
    public IReadOnlyList<string> ModelTypes { get; } = [ClipVisionConfig.ModelTypeName];

    /// <inheritdoc />
    public string ProbeTensor => ClipVisionModel.ProbeTensor;

    /// <inheritdoc />
    public VisionTower Load(JsonConfig config, FeatureSelection selection, IWeightSource? weights, string prefix, ModelBuildContext build)
    {
        var clip = ClipVisionConfig.FromJson(config);
        return weights is not null ? ClipVisionModel.Load(weights, clip, prefix, build, selection) : new ClipVisionModel(clip, selection, build);
    }
}
