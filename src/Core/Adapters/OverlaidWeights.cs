using LlavaModal.Abstractions.Weights;
using static TorchSharp.torch;

namespace LlavaModal.Core.Adapters;

/// <summary>
/// A base model's weights with an adapter's matrices beside them under the model's names (<c>….q_proj.lora_A.weight</c>)
/// and its saved modules in place of the base's: what a model built with <see cref="LoraLinearFactory"/> loads to
/// continue training the adapter (or to run it unmerged).
/// </summary>
sealed class OverlaidWeights(PeftAdapter adapter, IWeightSource baseWeights) : IWeightSource
{
    // Model name (….lora_A.weight) → name in the adapter file.
    readonly Dictionary<string, string> own = adapter.Weights.Tensors.Keys
        .Select(n => (Model: n[PeftAdapter.Prefix.Length..], Stored: n))
        .Where(n => !baseWeights.Contains(n.Model) || adapter.TryWhole(n.Model, out _))
        .ToDictionary(n => n.Model, n => n.Stored, StringComparer.Ordinal);

    public string Directory => baseWeights.Directory;

    public IEnumerable<string> Names => baseWeights.Names.Concat(own.Keys.Where(n => !baseWeights.Contains(n)));

    public bool Contains(string name) => own.ContainsKey(name) || baseWeights.Contains(name);

    public IReadOnlyList<long> Shape(string name) => own.TryGetValue(name, out var s) ? adapter.Weights.Tensors[s].Shape : baseWeights.Shape(name);

    public ScalarType? StoredType(string name) => own.TryGetValue(name, out var s) ? adapter.Weights.Tensors[s].ScalarType : baseWeights.StoredType(name);

    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null) =>
        own.TryGetValue(name, out var s) ? adapter.Weights.Read(s, dtype, device) : baseWeights.Read(name, dtype, device);

    public void ReadInto(string name, Tensor destination)
    {
        if (own.TryGetValue(name, out var s)) adapter.Weights.ReadInto(s, destination);
        else baseWeights.ReadInto(name, destination);
    }
}
