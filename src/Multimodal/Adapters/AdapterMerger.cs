using LlavaModal.Abstractions;
using LlavaModal.Abstractions.IO;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Multimodal.Loading;

namespace LlavaModal.Multimodal.Adapters;

/// <summary>What <see cref="AdapterMerger.Merge"/> wrote.</summary>
/// <param name="Directory">The new folder.</param>
/// <param name="BaseDirectory">The base model the adapter was merged into.</param>
/// <param name="MergedLayers">Linear layers whose weights changed (<c>W + scaling · B A</c>).</param>
/// <param name="ReplacedTensors">Tensors taken whole from the adapter (its <c>modules_to_save</c>).</param>
/// <param name="SkippedDirectories">Subfolders of the base folder that were not copied.</param>
public sealed record MergeResult(string Directory, string BaseDirectory, int MergedLayers, int ReplacedTensors, IReadOnlyList<string> SkippedDirectories);

/// <summary>
/// Folds a PEFT LoRA adapter into its base model once (<c>llava-modal merge-lora</c>): the result is an ordinary model
/// folder (every base file, the weights in their stored dtypes with each adapted layer's <c>W + scaling · B A</c> and the
/// adapter's saved modules in place), which loads, quantizes and serves like any other.
/// </summary>
public static class AdapterMerger
{
    /// <summary>Writes <paramref name="outputDirectory"/> (new or empty, unless <paramref name="overwrite"/>).</summary>
    /// <param name="adapterDirectory">The adapter folder (<c>adapter_config.json</c>, <c>adapter_model.safetensors</c>).</param>
    /// <param name="baseDirectory">The base model folder; null: the adapter's <c>base_model_name_or_path</c>.</param>
    /// <param name="outputDirectory">The folder to write.</param>
    /// <param name="overwrite">Write into a folder that holds files.</param>
    /// <exception cref="CheckpointException">The adapter or base cannot be read, or do not fit (named).</exception>
    /// <exception cref="ArgumentException">An output folder that is refused (see <see cref="OutputPaths.CheckFolder"/>).</exception>
    public static MergeResult Merge(string adapterDirectory, string? baseDirectory, string outputDirectory, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(adapterDirectory);
        baseDirectory ??= ModelFolder.AdapterBase(adapterDirectory);
        var output = OutputPaths.CheckFolder(outputDirectory, [adapterDirectory, baseDirectory], overwrite, "--out");
        using var folder = ModelFolder.Open(baseDirectory, adapterDirectory);
        var weights = folder.Weights;
        var specs = weights.Names.Order(StringComparer.Ordinal)
            .Select(name => new TensorSpec(name, [.. weights.Shape(name)], weights.StoredType(name) ?? throw new CheckpointException(baseDirectory, $"tensor '{name}' has a type this build cannot copy.")))
            .ToList();
        var skipped = DerivedFolder.Write(folder.Directory, output, overwrite, () =>
        {
            SafeTensorsWriter.WriteCheckpoint(output, specs, spec => weights.Read(spec.Name, spec.Type));
            File.Copy(Path.Combine(folder.Directory, "config.json"), Path.Combine(output, "config.json"), overwrite);
        });
        var adapter = folder.Adapter!;
        return new MergeResult(output, folder.Directory, adapter.Layers.Count, adapter.SavedTensors.Count, skipped);
    }
}
