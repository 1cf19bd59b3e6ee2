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
    /// The dtype the token embedding table is held in for a model computing in <paramref name="dtype"/> (lookups are
    /// widened back to <paramref name="dtype"/>): <paramref name="dtype"/> itself by default; packed 8- and 4-bit
    /// formats keep it in bfloat16, half the memory of an f32 table for one row read a token.
    /// </summary>
    ScalarType EmbeddingDType(ScalarType dtype) => dtype;
}

/// <summary>One linear layer of a model.</summary>
/// <param name="Name">The layer's field name in its module (<c>q_proj</c>, <c>down_proj</c>, <c>lm_head</c>), so factories can target layers as PEFT does.</param>
/// <param name="InFeatures">Input width.</param>
/// <param name="OutFeatures">Output width.</param>
/// <param name="Bias">Whether the layer has a bias.</param>
public sealed record LinearSpec(string Name, long InFeatures, long OutFeatures, bool Bias);
