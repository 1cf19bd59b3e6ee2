using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Layers;

/// <summary>
/// Creates the linear layers of a model. The default gives TorchSharp <c>Linear</c> modules (parameters <c>weight</c>
/// and <c>bias</c>, as checkpoints store them); a quantized format or an adapter (LoRA) is another factory, chosen at
/// load time, with no change to the model files.
/// </summary>
public interface ILinearFactory
{
    /// <summary>The factory's name, as load options select it.</summary>
    string Name { get; }

    /// <summary>Creates a layer computing <c>x Wᵀ + b</c> for <paramref name="spec"/>.</summary>
    nn.Module<Tensor, Tensor> Create(LinearSpec spec, ScalarType dtype, Device device);

    /// <summary>
    /// The vocabulary head of a model whose head is tied to its embedding table (<c>tie_word_embeddings</c>): null, the
    /// default, multiplies by the table itself; a factory that stores weights its own way (packed formats) returns a
    /// layer that takes them from <paramref name="table"/> once the checkpoint has loaded.
    /// </summary>
    nn.Module<Tensor, Tensor>? CreateTied(LinearSpec spec, Func<Tensor> table, ScalarType dtype, Device device) => null;

    /// <summary>
    /// The token embedding table [<paramref name="count"/>, <paramref name="dimensions"/>] of a model computing in
    /// <paramref name="dtype"/>, whose lookups return <paramref name="dtype"/>; null, the default, makes a TorchSharp
    /// <c>Embedding</c> whose <c>weight</c> loads as a parameter. Packed formats leave an untied table in the checkpoint
    /// file and read the rows a step needs. <paramref name="tiedHead"/> is the vocabulary head when it is tied to the
    /// table, null otherwise; a tied table must be an <c>Embedding</c> (the head reads its <c>weight</c>).
    /// </summary>
    nn.Module<Tensor, Tensor>? CreateEmbedding(long count, long dimensions, LinearSpec? tiedHead, ScalarType dtype, Device device) => null;
}

/// <summary>One linear layer of a model.</summary>
/// <param name="Name">The layer's field name in its module (<c>q_proj</c>, <c>down_proj</c>, <c>lm_head</c>), so factories can target layers as PEFT does.</param>
/// <param name="InFeatures">Input width.</param>
/// <param name="OutFeatures">Output width.</param>
/// <param name="Bias">Whether the layer has a bias.</param>
public sealed record LinearSpec(string Name, long InFeatures, long OutFeatures, bool Bias);
