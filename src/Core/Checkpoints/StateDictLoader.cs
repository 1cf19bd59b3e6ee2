using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Weights;
using static TorchSharp.torch;

namespace LlavaModal.Core.Checkpoints;

/// <summary>Missing, unexpected or wrongly-shaped tensors, all reported at once.</summary>
public sealed class CheckpointMismatchException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointMismatchException(string path, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> wrongShape)
        : base(path, Describe(missing, unexpected, wrongShape))
    {
        Missing = missing;
        Unexpected = unexpected;
        WrongShape = wrongShape;
    }

    /// <summary>Tensors the model needs that the checkpoint lacks.</summary>
    public IReadOnlyList<string> Missing { get; }
    /// <summary>Tensors in the checkpoint the model does not have.</summary>
    public IReadOnlyList<string> Unexpected { get; }
    /// <summary>Tensors present in both with different shapes (with both shapes).</summary>
    public IReadOnlyList<string> WrongShape { get; }

    static string Describe(IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> wrongShape)
    {
        const int shown = 20;
        string Part(string label, IReadOnlyList<string> items) => items.Count == 0 ? "" :
            $"\n  {label} ({items.Count}): {string.Join(", ", items.Take(shown))}{(items.Count > shown ? ", ..." : "")}";
        return "checkpoint does not match the model:" + Part("missing", missing) + Part("unexpected", unexpected) + Part("wrong shape or type", wrongShape);
    }
}

/// <summary>
/// Loads checkpoint tensors into a module whose parameter names mirror the checkpoint's, so loading is a single
/// prefix mapping. Strict by default: every parameter must be found with its exact shape, and every checkpoint
/// tensor under the prefix must be used.
/// </summary>
public static class StateDictLoader
{
    /// <summary>
    /// Loads <paramref name="module"/>'s parameters from <paramref name="checkpoint"/>: parameter <c>p</c> is read from
    /// tensor <c>prefix + p</c>. Tensors outside the prefix are ignored; tensors under it that match
    /// <paramref name="ignore"/> are allowed to be unused.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Any tensor missing, unexpected or of the wrong shape (all listed).</exception>
    public static void Load(nn.Module module, IWeightSource checkpoint, string prefix = "", Func<string, bool>? ignore = null, bool strict = true) =>
        Load(module, checkpoint, name => prefix + name, name => name.StartsWith(prefix, StringComparison.Ordinal) && !(ignore?.Invoke(name) ?? false), strict);

    /// <summary>
    /// Loads <paramref name="module"/>'s parameters from <paramref name="checkpoint"/>, reading parameter <c>p</c> from
    /// tensor <c>toCheckpointName(p)</c>. Checkpoint tensors for which <paramref name="belongsToModule"/> is true must all be used (when strict).
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Any tensor missing, unexpected or of the wrong shape (all listed).</exception>
    public static void Load(nn.Module module, IWeightSource checkpoint, Func<string, string> toCheckpointName, Func<string, bool> belongsToModule, bool strict = true)
    {
        // An adapter's parameters (LoRA's lora_A / lora_B) are read when the checkpoint has them and kept otherwise.
        var optional = module.named_modules().Where(m => m.module is IOptionalWeights)
            .SelectMany(m => ((IOptionalWeights)m.module).OptionalParameters.Select(p => m.name + "." + p)).ToHashSet(StringComparer.Ordinal);
        var parameters = module.named_parameters().Where(p => !optional.Contains(p.name) || checkpoint.Contains(toCheckpointName(p.name))).ToList();
        var missing = new List<string>();
        var wrongShape = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, parameter) in parameters)
        {
            var key = toCheckpointName(name);
            if (!checkpoint.Contains(key)) { missing.Add(key); continue; }
            used.Add(key);
            var shape = checkpoint.Shape(key);
            if (!shape.SequenceEqual(parameter.shape))
                wrongShape.Add($"{key} (checkpoint [{string.Join(", ", shape)}], model [{string.Join(", ", parameter.shape)}])");
            // Weights are never integers: F32 bytes relabelled I32 (same size) would otherwise be converted into garbage.
            else if (IsFloat(parameter.dtype) && checkpoint.StoredType(key) is { } stored && !IsFloat(stored))
                wrongShape.Add($"{key} (checkpoint stores {stored}, model needs floating-point {parameter.dtype})");
        }
        // Packed layers read their own tensors (full-precision weights to pack, or packed ones).
        var readers = module.named_modules().Prepend(("", module)).DistinctBy(m => m.Item2).Where(m => m.Item2 is IReadsOwnWeights)
            .Select(m => (Path: m.Item1.Length == 0 ? "" : m.Item1 + ".", Reader: (IReadsOwnWeights)m.Item2)).ToList();
        foreach (var (path, reader) in readers)
        {
            var (reads, lacking, wrong) = reader.Inspect(checkpoint, n => toCheckpointName(path + n));
            used.UnionWith(reads);
            missing.AddRange(lacking);
            wrongShape.AddRange(wrong);
        }
        var unexpected = checkpoint.Names
            .Where(n => !used.Contains(n) && belongsToModule(n))
            .OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || wrongShape.Count > 0 || (strict && unexpected.Count > 0))
            throw new CheckpointMismatchException(checkpoint.Directory, missing, strict ? unexpected : [], wrongShape);

        using var _ = no_grad();
        foreach (var (name, parameter) in parameters)
            checkpoint.ReadInto(toCheckpointName(name), parameter);
        foreach (var (path, reader) in readers)
            reader.Read(checkpoint, n => toCheckpointName(path + n));
    }

    static bool IsFloat(ScalarType type) => type is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64;
}
