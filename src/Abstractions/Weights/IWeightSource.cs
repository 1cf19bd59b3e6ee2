using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Weights;

/// <summary>
/// The tensors of a model folder (safetensors, one file or shards), read on demand by name. Module field names mirror
/// checkpoint tensor names, so a part loads itself by mapping its parameter names onto these.
/// </summary>
public interface IWeightSource
{
    /// <summary>The model folder, for messages.</summary>
    string Directory { get; }

    /// <summary>Every tensor name.</summary>
    IEnumerable<string> Names { get; }

    /// <summary>True when a tensor called <paramref name="name"/> exists.</summary>
    bool Contains(string name);

    /// <summary>The stored shape of a tensor.</summary>
    IReadOnlyList<long> Shape(string name);

    /// <summary>The stored element type of a tensor, or null when the source does not say (loading then converts whatever it reads).</summary>
    ScalarType? StoredType(string name) => null;

    /// <summary>Reads a tensor into new memory, converted to <paramref name="dtype"/> when given.</summary>
    Tensor Read(string name, ScalarType? dtype = null, Device? device = null);

    /// <summary>Reads a tensor into an existing one (shape-checked, dtype converted).</summary>
    void ReadInto(string name, Tensor destination);

    /// <summary>
    /// The rows of a two-dimensional tensor, kept readable from its file after the source is disposed; null when the
    /// source cannot (the tensor is computed, as a merged adapter's layer, or is not 2-D). The caller disposes it.
    /// </summary>
    ITensorRows? OpenRows(string name) => null;
}
