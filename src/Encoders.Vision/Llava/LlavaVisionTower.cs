using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Architectures;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Clip;

namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>
/// Loads the vision tower of a LLaVA folder (its <c>vision_config</c>) or of a standalone vision checkpoint (a
/// <c>CLIPVisionModel</c> folder, config at the top): the tower registered for the config's <c>model_type</c>
/// (<c>clip_vision_model</c> when absent, LLaVA's default), with LLaVA's feature selection, from its tensors.
/// </summary>
public static class LlavaVisionTower
{
    /// <summary>Where llava-hf checkpoints keep the vision tower (below an optional <c>model.</c>).</summary>
    public const string Prefix = "vision_tower.";

    /// <summary>Loads the tower.</summary>
    /// <param name="config">The folder's <c>config.json</c>.</param>
    /// <param name="weights">Its weights.</param>
    /// <param name="catalog">The registered vision towers.</param>
    /// <param name="build">Dtype, device and layer factories.</param>
    /// <param name="selection">Feature selection (default: the config's <c>vision_feature_layer</c> / <c>vision_feature_select_strategy</c>).</param>
    /// <exception cref="ConfigException">An unregistered <c>model_type</c> (the message lists the registered ones) or a bad key.</exception>
    /// <exception cref="CheckpointException">The tower's tensors are missing or do not fit.</exception>
    public static VisionTower Load(JsonConfig config, IWeightSource weights, IArchitectureCatalog catalog, ModelBuildContext build, FeatureSelection? selection = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(catalog);
        var section = config.Has("vision_config") ? config.Section("vision_config") : config;
        var modelType = section.String("model_type", ClipVisionConfig.ModelTypeName);
        var family = catalog.FindVisionTower(modelType)
            ?? throw section.Error("model_type", $"'{modelType}' is not a registered vision tower (registered: {string.Join(", ", catalog.VisionTowerTypes)}).");
        var prefix = weights.Find(Prefix, family.ProbeTensor) ?? (weights.Contains(family.ProbeTensor) ? ""
            : throw new CheckpointException(weights.Directory,
                $"no {modelType} vision tower found (looked for '{Prefix}{family.ProbeTensor}', 'model.{Prefix}{family.ProbeTensor}' and '{family.ProbeTensor}')."));
        // Sizes the weights cannot hold are refused before the tower allocates them (CLIP's defaults are 768 wide, 224 px, patch 32).
        ConfigBounds.Check(section, weights);
        selection ??= LlavaFeatureSelection.FromJson(config, section.Int("num_hidden_layers", 12));
        return family.Load(section, selection, weights, prefix, build);
    }
}
