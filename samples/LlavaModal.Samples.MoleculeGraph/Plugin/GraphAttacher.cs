using System.Text.Json;
using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.IO;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Samples.MoleculeGraph.Gin;

namespace LlavaModal.Samples.MoleculeGraph.Plugin;

/// <summary>
/// Writes a LLaVA folder with a graph encoder attached (what <c>attach-audio</c> does for audio): the base folder's files,
/// its weights plus the GIN's as <c>graph_tower.*</c> in one <c>model.safetensors</c>, and <c>config.json</c> with a
/// <c>graph_config</c>. No projector yet: <see cref="MoleculeGraphFactory"/> starts one, and stage 1 trains it.
/// </summary>
public static class GraphAttacher
{
    static readonly string[] NotCopied = ["config.json", SafeTensorsCheckpoint.SingleFileName, SafeTensorsCheckpoint.IndexFileName, "MODEL_CARD.md", "sample.png"];

    /// <summary>Writes <paramref name="baseModel"/> with <paramref name="encoder"/> attached to the new folder <paramref name="output"/>.</summary>
    /// <exception cref="ArgumentException">The output folder is not new or empty, or overlaps the base model.</exception>
    /// <exception cref="CheckpointException">The base already has a graph encoder, or has no weights.</exception>
    public static void Attach(string baseModel, GinEncoder encoder, string output)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        var target = OutputPaths.CheckFolder(output, [baseModel], overwrite: false);
        var configPath = Path.Combine(baseModel, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))?.AsObject() ?? throw new CheckpointException(configPath, "config.json is not a JSON object.");
        if (config.ContainsKey(GinConfig.ConfigKey)) throw new CheckpointException(configPath, $"the model already has a {GinConfig.ConfigKey}.");
        using var weights = SafeTensorsCheckpoint.Open(baseModel);
        if (weights.Names.Any(n => n.Contains(MoleculeGraphFactory.TowerPrefix, StringComparison.Ordinal)))
            throw new CheckpointException(baseModel, $"the weights already hold {MoleculeGraphFactory.TowerPrefix}* tensors.");
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(baseModel).Where(f => !NotCopied.Contains(Path.GetFileName(f))))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));

        var gin = encoder.named_parameters().ToDictionary(p => MoleculeGraphFactory.TowerPrefix + p.name, p => p.parameter);
        var specs = weights.Names.Order(StringComparer.Ordinal).Select(n => new TensorSpec(n, [.. weights.Shape(n)], weights.StoredType(n) ?? TorchSharp.torch.ScalarType.Float32))
            .Concat(gin.Select(kv => new TensorSpec(kv.Key, kv.Value.shape, TorchSharp.torch.ScalarType.Float32))).ToList();
        // The writer disposes what it is given: the GIN's parameters go as copies.
        SafeTensorsWriter.Write(Path.Combine(target, SafeTensorsCheckpoint.SingleFileName), specs,
            spec => gin.TryGetValue(spec.Name, out var p) ? p.detach().to(TorchSharp.torch.ScalarType.Float32).clone() : weights.Read(spec.Name));
        config[GinConfig.ConfigKey] = encoder.Config.ToJson();
        File.WriteAllText(Path.Combine(target, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
