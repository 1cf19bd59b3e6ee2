using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.IO;
using LlavaModal.Abstractions.Weights;
using static TorchSharp.torch;

namespace LlavaModal.Core.Checkpoints;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, or the shards listed by
/// <c>model.safetensors.index.json</c>. Every file is opened and validated up front; tensors are read on demand.
/// </summary>
public sealed class SafeTensorsCheckpoint : IWeightSource, IDisposable
{
    /// <summary>Single-file weights name.</summary>
    public const string SingleFileName = "model.safetensors";
    /// <summary>Sharded weights index name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    readonly List<SafeTensorsFile> files;
    readonly Dictionary<string, SafeTensorsFile> owner;

    SafeTensorsCheckpoint(string directory, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> owner)
    {
        Directory = directory;
        this.files = files;
        this.owner = owner;
    }

    /// <inheritdoc />
    public string Directory { get; }

    /// <inheritdoc />
    public IEnumerable<string> Names => owner.Keys;

    /// <summary>True when the folder holds safetensors weights.</summary>
    public static bool Exists(string directory) =>
        File.Exists(Path.Combine(directory, IndexFileName)) || File.Exists(Path.Combine(directory, SingleFileName));

    /// <summary>Opens the weights of <paramref name="directory"/>.</summary>
    /// <exception cref="CheckpointException">No weights, a malformed index, a shard missing, or a tensor in two shards.</exception>
    public static SafeTensorsCheckpoint Open(string directory)
    {
        var indexPath = Path.Combine(directory, IndexFileName);
        var singlePath = Path.Combine(directory, SingleFileName);
        var files = new List<SafeTensorsFile>();
        var owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(indexPath))
            {
                foreach (var (shard, names) in ReadIndex(indexPath))
                {
                    var shardPath = Path.Combine(directory, shard);
                    if (!File.Exists(shardPath)) throw new CheckpointException(indexPath, $"shard '{shard}' listed in weight_map does not exist.");
                    var file = SafeTensorsFile.Open(shardPath);
                    files.Add(file);
                    foreach (var name in names)
                        if (!file.Tensors.ContainsKey(name))
                            throw new CheckpointException(shardPath, $"tensor '{name}' is listed for this shard in {IndexFileName} but is not in it.");
                    foreach (var name in file.Tensors.Keys)
                        if (!owner.TryAdd(name, file))
                            throw new CheckpointException(shardPath, $"tensor '{name}' also appears in {Path.GetFileName(owner[name].Path)}.");
                }
            }
            else if (File.Exists(singlePath))
            {
                var file = SafeTensorsFile.Open(singlePath);
                files.Add(file);
                foreach (var name in file.Tensors.Keys) owner[name] = file;
            }
            else
            {
                throw new CheckpointException(directory, $"no weights: expected {SingleFileName} or {IndexFileName}.");
            }
            return new SafeTensorsCheckpoint(directory, files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    static IEnumerable<(string Shard, List<string> Names)> ReadIndex(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(InputFiles.ReadAllBytes(indexPath, JsonConfig.MaxFileBytes, "JsonConfig.MaxFileBytes", m => new CheckpointException(indexPath, m)));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(indexPath, "missing 'weight_map' object.");
            var byShard = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointException(indexPath, $"weight_map entry '{entry.Name}' is {entry.Value.ValueKind}, expected a shard file name.");
                var shard = entry.Value.GetString();
                if (string.IsNullOrEmpty(shard) || shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new CheckpointException(indexPath, $"weight_map entry '{entry.Name}' names an invalid shard '{shard}'.");
                if (!byShard.TryGetValue(shard, out var names)) byShard[shard] = names = [];
                names.Add(entry.Name);
            }
            return byShard.Select(kv => (kv.Key, kv.Value)).ToList();
        }
        catch (JsonException e) { throw new CheckpointException(indexPath, $"not valid JSON: {e.Message}", e); }
        catch (InvalidOperationException e) { throw new CheckpointException(indexPath, $"unexpected JSON value: {e.Message}", e); }
    }

    /// <inheritdoc />
    public bool Contains(string name) => owner.ContainsKey(name);

    /// <summary>The header entry of a tensor.</summary>
    public SafeTensorInfo Info(string name) => FileOf(name).Tensors[name];

    /// <inheritdoc />
    public IReadOnlyList<long> Shape(string name) => Info(name).Shape;

    /// <inheritdoc />
    public ScalarType? StoredType(string name) => Info(name).ScalarType;

    /// <inheritdoc />
    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null) => FileOf(name).Read(name, dtype, device);

    /// <inheritdoc />
    public void ReadInto(string name, Tensor destination) => FileOf(name).ReadInto(name, destination);

    /// <inheritdoc />
    public ITensorRows? OpenRows(string name) => FileOf(name).OpenRows(name);

    SafeTensorsFile FileOf(string name) =>
        owner.TryGetValue(name, out var file) ? file : throw new CheckpointException(Directory, $"no tensor named '{name}'.");

    /// <summary>The dtype most tensors are stored in (used when a config does not say).</summary>
    public ScalarType PredominantFloatType() =>
        owner.Select(kv => kv.Value.Tensors[kv.Key]).Where(t => t.DType is "F32" or "F16" or "BF16")
            .GroupBy(t => t.ScalarType).OrderByDescending(g => g.Sum(t => t.ElementCount)).Select(g => g.Key)
            .DefaultIfEmpty(ScalarType.Float32).First();

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in files) f.Dispose();
    }
}
