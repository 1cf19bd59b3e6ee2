using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Samples.MoleculeGraph.Gin;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Samples.MoleculeGraph.Plugin;

/// <summary>
/// Loads the graph plugin of a model folder that carries one: the GIN from the <c>graph_config</c> object of
/// <c>config.json</c> and the <c>graph_tower.*</c> tensors, and the projector (<c>graph_projector_type</c>) from
/// <c>graph_projector.*</c>, freshly initialised (seeded, logged) when the folder has none yet (before stage 1).
/// Folders without <c>graph_config</c> give null. Register it with
/// <c>services.AddLlavaModal(...).AddModalityEncoderFactory(new MoleculeGraphFactory())</c> (or <c>.AddMoleculeGraph()</c>).
/// </summary>
public sealed class MoleculeGraphFactory(long seed = 0) : IModalityEncoderFactory
{
    /// <summary>Prefix of the encoder's tensors.</summary>
    public const string TowerPrefix = "graph_tower.";

    /// <summary>Prefix of the projector's tensors (what the trainer saves for modality <c>graph</c>).</summary>
    public const string ProjectorPrefix = "graph_projector.";

    /// <inheritdoc />
    public string Modality => MoleculeGraphEncoder.Name;

    /// <inheritdoc />
    public ModalityBinding? TryLoad(ModalityLoadContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Config.Has(GinConfig.ConfigKey)) return null;
        var config = GinConfig.FromJson(context.Config.Section(GinConfig.ConfigKey));
        var weights = context.Weights;
        var tower = weights.Find(TowerPrefix, "atom_embedding.weight")
            ?? throw new Abstractions.CheckpointException(context.ModelDirectory, $"config.json has a {GinConfig.ConfigKey} but the weights have no {TowerPrefix}* tensors.");
        var gin = new GinEncoder(config);
        ProjectorModule? projector = null;
        try
        {
            StateDictLoader.Load(gin, weights, tower);
            gin.to(context.DType).to(context.Device);
            try { projector = Projectors.Create(config.ProjectorType, config.HiddenSize, context.DecoderHiddenSize, "gelu", context.DType, context.Device, context.Build.Linear); }
            catch (ArgumentException e) { throw context.Config.Section(GinConfig.ConfigKey).Error("graph_projector_type", e.Message); }
            if (weights.Find(ProjectorPrefix, "linear_1.weight") is { } stored) StateDictLoader.Load(projector, weights, stored);
            else if (projector.Type != "identity") InitialiseProjector(projector, context);
            projector.eval();
            context.Logger.LogInformation("Graph plugin: GIN ({Layers} layers, width {Width}), projector {Type}", config.Layers, config.HiddenSize, projector.Type);
            return new ModalityBinding(new MoleculeGraphEncoder(gin), projector);
        }
        catch
        {
            gin.Dispose();
            projector?.Dispose();
            throw;
        }
    }

    void InitialiseProjector(ProjectorModule projector, ModalityLoadContext context)
    {
        using (no_grad())
        {
            var generator = new Generator((ulong)seed);
            foreach (var (name, p) in projector.named_parameters())
            {
                if (name.EndsWith(".bias", StringComparison.Ordinal)) { p.zero_(); continue; }
                using var values = normal(0, 0.02, p.shape, generator: generator);
                p.copy_(values);
            }
        }
        context.Logger.LogWarning("{Directory}: no {Prefix}* tensors; the graph projector starts freshly initialised (train it with stage 1).", context.ModelDirectory, ProjectorPrefix);
    }
}
