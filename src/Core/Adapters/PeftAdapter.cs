using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using static TorchSharp.torch;

namespace LlavaModal.Core.Adapters;

/// <summary>
/// A LoRA adapter folder in PEFT's layout: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>, whose tensors
/// are the model's own names under <c>base_model.model.</c>: <c>….q_proj.lora_A.weight</c> [rank, in] and
/// <c>….q_proj.lora_B.weight</c> [out, rank] per adapted layer, and whole tensors of <c>modules_to_save</c> (LLaVA's
/// projector). Applied to a base model's weights as they are read (<see cref="Merge"/>), or exposed beside them for
/// training to continue (<see cref="Overlay"/>).
/// </summary>
public sealed class PeftAdapter : IDisposable
{
    /// <summary>The weights file.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>PEFT's prefix of every tensor name (<c>PeftModelForCausalLM.base_model.model</c>).</summary>
    public const string Prefix = "base_model.model.";

    const string A = ".lora_A.weight", B = ".lora_B.weight";

    readonly SafeTensorsFile file;
    readonly Dictionary<string, LoraLayer> layers;
    readonly Dictionary<string, string> whole;

    PeftAdapter(string directory, PeftAdapterConfig config, SafeTensorsFile file, Dictionary<string, LoraLayer> layers, Dictionary<string, string> whole)
    {
        Directory = directory;
        Config = config;
        this.file = file;
        this.layers = layers;
        this.whole = whole;
    }

    /// <summary>The adapter folder.</summary>
    public string Directory { get; }

    /// <summary>Its <c>adapter_config.json</c>.</summary>
    public PeftAdapterConfig Config { get; }

    /// <summary>Adapted layers by module path (<c>language_model.model.layers.0.self_attn.q_proj</c>).</summary>
    public IReadOnlyCollection<string> Layers => layers.Keys;

    /// <summary>Whole tensors stored beside the adapters (<c>modules_to_save</c>), by their model names.</summary>
    public IReadOnlyCollection<string> SavedTensors => whole.Keys;

    /// <summary>Trainable parameters the adapter holds (LoRA matrices only).</summary>
    public long AdapterParameterCount => layers.Values.Sum(l => (long)l.Rank * (l.In + l.Out));

    /// <summary>True when <paramref name="directory"/> holds an <c>adapter_config.json</c>.</summary>
    public static bool IsAdapterFolder(string directory) => System.IO.File.Exists(Path.Combine(directory, PeftAdapterConfig.FileName));

    /// <summary>Opens an adapter folder and checks its tensors against its config (pairs complete, shapes consistent, float types).</summary>
    /// <exception cref="CheckpointException">A missing file, a tensor outside PEFT's naming, a lone or mis-shaped LoRA matrix, or an adapter kind this build does not apply (named).</exception>
    public static PeftAdapter Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "adapter folder not found.");
        var config = PeftAdapterConfig.Load(directory);
        var path = Path.Combine(directory, WeightsFileName);
        if (!System.IO.File.Exists(path))
            throw new CheckpointException(path, System.IO.File.Exists(Path.Combine(directory, "adapter_model.bin"))
                ? "not found; only adapter_model.bin (a PyTorch pickle) is there, which is not read: save the adapter with safe_serialization=True."
                : "not found: a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors.");
        var file = SafeTensorsFile.Open(path);
        try
        {
            var (layers, whole) = Index(file, config);
            return new PeftAdapter(directory, config, file, layers, whole);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static (Dictionary<string, LoraLayer>, Dictionary<string, string>) Index(SafeTensorsFile file, PeftAdapterConfig config)
    {
        var layers = new Dictionary<string, LoraLayer>(StringComparer.Ordinal);
        var whole = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, info) in file.Tensors)
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal))
                throw new CheckpointException(file.Path, $"tensor '{name}' does not start with '{Prefix}' as PEFT names them.");
            if (!IsFloat(info.ScalarType))
                throw new CheckpointException(file.Path, $"tensor '{name}' is {info.DType}; adapter weights are floating-point.");
            var model = name[Prefix.Length..];
            if (model.EndsWith(A, StringComparison.Ordinal) || model.EndsWith(B, StringComparison.Ordinal)) continue;
            if (model.Contains(".lora_", StringComparison.Ordinal))
                throw new CheckpointException(file.Path, $"tensor '{name}' is a LoRA variant this build does not apply (embedding adapters, DoRA magnitudes); only lora_A / lora_B of linear layers are.");
            whole[model] = name;
        }
        foreach (var (name, info) in file.Tensors.Where(t => t.Key.EndsWith(A, StringComparison.Ordinal)))
        {
            var module = name[Prefix.Length..^A.Length];
            var bName = Prefix + module + B;
            if (!file.Tensors.TryGetValue(bName, out var b))
                throw new CheckpointException(file.Path, $"tensor '{name}' has no partner '{bName}'.");
            if (info.Shape.Length != 2 || b.Shape.Length != 2 || info.Shape[0] != b.Shape[1])
                throw new CheckpointException(file.Path, $"'{name}' [{string.Join(", ", info.Shape)}] and '{bName}' [{string.Join(", ", b.Shape)}] are not [rank, in] and [out, rank] of one rank.");
            long rank = info.Shape[0];
            if (config.RankOf(module) != rank)
                throw new CheckpointException(file.Path, $"'{name}' has rank {rank} but adapter_config.json gives layer {module} rank {config.RankOf(module)}.");
            layers[module] = new LoraLayer(name, bName, (int)rank, info.Shape[1], b.Shape[0], config.ScalingOf(module, rank));
        }
        foreach (var name in file.Tensors.Keys.Where(t => t.EndsWith(B, StringComparison.Ordinal)))
            if (!layers.ContainsKey(name[Prefix.Length..^B.Length]))
                throw new CheckpointException(file.Path, $"tensor '{name}' has no partner '{name[..^B.Length] + A}'.");
        if (layers.Count == 0) throw new CheckpointException(file.Path, "holds no LoRA matrices (…lora_A.weight / …lora_B.weight).");
        return (layers, whole);
    }

    static bool IsFloat(ScalarType type) => type is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;

    /// <summary>
    /// The base weights with every adapter folded in (<c>W + scaling · B A</c>, computed in float32) and the saved modules
    /// replacing theirs: a model loads from it exactly as from the base, in any dtype or weight format, at the base's speed.
    /// </summary>
    /// <exception cref="CheckpointException">An adapted layer the base does not have, or whose shape differs (named with both shapes).</exception>
    public IWeightSource Merge(IWeightSource baseWeights)
    {
        Check(baseWeights);
        return new MergedWeights(this, baseWeights);
    }

    /// <summary>The base weights plus the adapter's matrices under the model's names (<c>….q_proj.lora_A.weight</c>) and the saved modules replacing theirs: loads a model built with <see cref="LoraLinearFactory"/> as the adapter left it.</summary>
    /// <exception cref="CheckpointException">As <see cref="Merge"/>.</exception>
    public IWeightSource Overlay(IWeightSource baseWeights)
    {
        Check(baseWeights);
        return new OverlaidWeights(this, baseWeights);
    }

    void Check(IWeightSource baseWeights)
    {
        ArgumentNullException.ThrowIfNull(baseWeights);
        foreach (var (module, layer) in layers)
        {
            var target = module + ".weight";
            if (!baseWeights.Contains(target))
                throw new CheckpointException(file.Path, $"adapter '{layer.AName}' adapts {target}, which the base model in {baseWeights.Directory} does not have (was the adapter trained on another model?).");
            var shape = baseWeights.Shape(target);
            if (shape.Count != 2 || shape[0] != layer.Out || shape[1] != layer.In)
                throw new CheckpointException(file.Path, $"adapter '{layer.AName}' is for a [{layer.Out}, {layer.In}] weight but the base's {target} is [{string.Join(", ", shape)}].");
        }
        foreach (var (model, stored) in whole)
            if (baseWeights.Contains(model) && !baseWeights.Shape(model).SequenceEqual(file.Tensors[stored].Shape))
                throw new CheckpointException(file.Path, $"'{stored}' is [{string.Join(", ", file.Tensors[stored].Shape)}] but the base's {model} is [{string.Join(", ", baseWeights.Shape(model))}].");
    }

    internal bool TryLayer(string weightName, out LoraLayer layer)
    {
        layer = default;
        return weightName.EndsWith(".weight", StringComparison.Ordinal) && layers.TryGetValue(weightName[..^".weight".Length], out layer);
    }

    internal bool TryWhole(string modelName, out string stored) => whole.TryGetValue(modelName, out stored!);

    internal SafeTensorsFile Weights => file;

    /// <summary>The update <c>scaling · B A</c> [out, in] in float32.</summary>
    internal Tensor Delta(LoraLayer layer)
    {
        using var scope = NewDisposeScope();
        var a = file.Read(layer.AName, ScalarType.Float32);
        var b = file.Read(layer.BName, ScalarType.Float32);
        return b.matmul(a).MulScalar(layer.Scaling).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Writes an adapter folder: <paramref name="config"/> as <c>adapter_config.json</c> and <paramref name="tensors"/>
    /// (model names: <c>….lora_A.weight</c>, <c>….lora_B.weight</c>, whole saved modules) under <see cref="Prefix"/>.
    /// </summary>
    public static void Save(string directory, PeftAdapterConfig config, IEnumerable<(string Name, Tensor Tensor)> tensors, ScalarType dtype = ScalarType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        System.IO.Directory.CreateDirectory(directory);
        var list = tensors.ToList();
        var specs = list.Select(t => new TensorSpec(Prefix + t.Name, t.Tensor.shape, dtype)).ToList();
        var byName = list.ToDictionary(t => Prefix + t.Name, t => t.Tensor);
        SafeTensorsWriter.Write(Path.Combine(directory, WeightsFileName), specs, spec => byName[spec.Name].detach().to(spec.Type), new Dictionary<string, string> { ["format"] = "pt" });
        config.Save(directory);
    }

    /// <inheritdoc />
    public void Dispose() => file.Dispose();
}

/// <summary>One adapted layer: its two tensors in the file, rank, widths and scaling.</summary>
readonly record struct LoraLayer(string AName, string BName, int Rank, long In, long Out, double Scaling);
