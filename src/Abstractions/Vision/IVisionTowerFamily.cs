using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Weights;

namespace LlavaModal.Abstractions.Vision;

/// <summary>
/// A vision tower registered by the <c>vision_config.model_type</c>s it reads (<c>clip_vision_model</c>). Registering one
/// (in an <see cref="Architectures.IArchitectureCatalog"/>, or with <c>AddVisionTower</c> on the DI builder) is all it
/// takes for model folders that name it to load.
/// </summary>
public interface IVisionTowerFamily
{
    /// <summary>The <c>model_type</c> values this tower reads.</summary>
    IReadOnlyList<string> ModelTypes { get; }

    /// <summary>A tensor every checkpoint of the tower has, relative to its root (where it is found tells the tower's prefix).</summary>
    string ProbeTensor { get; }

    /// <summary>
    /// Builds the tower from its config and, when <paramref name="weights"/> is given, loads it strictly from tensors
    /// <c>{prefix}{parameter name}</c>; without weights it is randomly initialised (training from scratch).
    /// </summary>
    /// <exception cref="ConfigException">A missing or unsupported key, naming it.</exception>
    /// <exception cref="CheckpointException">Missing, unexpected or wrongly-shaped tensors.</exception>
    VisionTower Load(JsonConfig config, FeatureSelection selection, IWeightSource? weights, string prefix, ModelBuildContext build);
}
