using System.Text.Json.Nodes;
using LlavaModal.Multimodal.Loading;
using static TorchSharp.torch;

namespace LlavaModal.Training.Modeling;

/// <summary>
/// What modality plugins keep in a model folder besides their projectors, which training neither reads nor changes: the
/// encoders' tensors (anything outside <c>vision_tower</c>, <c>multi_modal_projector</c>, <c>language_model</c>,
/// <c>lm_head</c> and the trained <c>{modality}_projector</c>s, e.g. <c>audio_tower.*</c>), the top-level
/// <c>config.json</c> keys the trainer does not write (<c>audio_config</c>, <c>audio_token_index</c>), and the folder's
/// other JSON files (<c>audio_preprocessor_config.json</c>). Read into memory when the model loads, so a save into the
/// same folder (a resumed run) cannot read a file it is overwriting.
/// </summary>
sealed class PluginFiles : IDisposable
{
    static readonly string[] OwnParts = ["vision_tower", "multi_modal_projector", "language_model", "lm_head"];
    static readonly string[] NotCarried = ["config.json", "model.safetensors.index.json", Trainer.StateFileName];

    PluginFiles(Dictionary<string, Tensor> tensors, JsonObject config, Dictionary<string, byte[]> files)
    {
        Tensors = tensors;
        Config = config;
        Files = files;
    }

    /// <summary>The plugins' tensors by checkpoint name, in their stored dtype.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>The source <c>config.json</c>; keys the trainer writes itself replace the ones here.</summary>
    public JsonObject Config { get; }

    /// <summary>The folder's other JSON files by name.</summary>
    public IReadOnlyDictionary<string, byte[]> Files { get; }

    /// <summary>Reads what the plugins of <paramref name="modalities"/> keep in <paramref name="folder"/>.</summary>
    public static PluginFiles Read(ModelFolder folder, IEnumerable<string> modalities)
    {
        var projectors = modalities.Select(m => $"{m}_projector").ToHashSet(StringComparer.Ordinal);
        bool Own(string name)
        {
            if (name.StartsWith("model.", StringComparison.Ordinal)) name = name["model.".Length..];
            var part = name.Split('.')[0];
            return OwnParts.Contains(part) || projectors.Contains(part);
        }
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in folder.Weights.Names.Where(n => !Own(n)))
        {
            var t = folder.Weights.Read(name);
            t.DetachFromDisposeScope();
            tensors[name] = t;
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder.Directory, "config.json")))?.AsObject() ?? [];
        var files = Directory.EnumerateFiles(folder.Directory, "*.json")
            .Where(f => !NotCarried.Contains(Path.GetFileName(f)))
            .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes, StringComparer.Ordinal);
        return new PluginFiles(tensors, config, files);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
