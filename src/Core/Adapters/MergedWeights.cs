using LlavaModal.Abstractions.Tensors;
using LlavaModal.Abstractions.Weights;
using static TorchSharp.torch;

namespace LlavaModal.Core.Adapters;

/// <summary>
/// A base model's weights as the adapter changes them: an adapted layer's weight reads as <c>W + scaling · B A</c>
/// (summed in float32, then converted to what the reader asks), a saved module's tensors come from the adapter, and
/// everything else from the base. The adapter's own matrices are not visible, so loading is the base's, unchanged.
/// </summary>
sealed class MergedWeights(PeftAdapter adapter, IWeightSource baseWeights) : IWeightSource
{
    public string Directory => baseWeights.Directory;

    public IEnumerable<string> Names => baseWeights.Names.Concat(adapter.SavedTensors.Where(n => !baseWeights.Contains(n)));

    public bool Contains(string name) => baseWeights.Contains(name) || adapter.TryWhole(name, out _);

    public IReadOnlyList<long> Shape(string name) =>
        adapter.TryWhole(name, out var stored) ? adapter.Weights.Tensors[stored].Shape : baseWeights.Shape(name);

    public ScalarType? StoredType(string name) =>
        adapter.TryWhole(name, out var stored) ? adapter.Weights.Tensors[stored].ScalarType : baseWeights.StoredType(name);

    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (adapter.TryWhole(name, out var stored)) return adapter.Weights.Read(stored, dtype, device);
        if (!adapter.TryLayer(name, out var layer)) return baseWeights.Read(name, dtype, device);
        using var scope = NewDisposeScope();
        var merged = baseWeights.Read(name, ScalarType.Float32).Plus_(adapter.Delta(layer));
        return merged.to(dtype ?? baseWeights.StoredType(name) ?? ScalarType.Float32, device ?? CPU).MoveToOuterDisposeScope();
    }

    // A merged layer is computed, so it has no rows in a file; a saved module's rows are the adapter's.
    public ITensorRows? OpenRows(string name) =>
        adapter.TryWhole(name, out var stored) ? adapter.Weights.OpenRows(stored)
        : adapter.TryLayer(name, out _) ? null : baseWeights.OpenRows(name);

    public void ReadInto(string name, Tensor destination)
    {
        if (adapter.TryWhole(name, out var stored)) { adapter.Weights.ReadInto(stored, destination); return; }
        if (!adapter.TryLayer(name, out var _)) { baseWeights.ReadInto(name, destination); return; }
        using var merged = Read(name, destination.dtype, destination.device);
        if (!merged.shape.SequenceEqual(destination.shape))
            throw new Abstractions.CheckpointException(Directory, $"tensor '{name}' has shape [{string.Join(", ", merged.shape)}], expected [{string.Join(", ", destination.shape)}].");
        using var noGrad = no_grad();
        destination.copy_(merged);
    }
}
