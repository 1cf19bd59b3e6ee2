using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Modality;

/// <summary>Maps an encoder's features [tokens, <see cref="InputWidth"/>] to decoder embeddings [tokens', <see cref="OutputWidth"/>].</summary>
public interface IProjector
{
    /// <summary>The projector type as configured (<c>linear</c>, <c>mlp2x_gelu</c>, <c>identity</c>).</summary>
    string Type { get; }

    /// <summary>Encoder feature width.</summary>
    int InputWidth { get; }

    /// <summary>Decoder hidden width.</summary>
    int OutputWidth { get; }

    /// <summary>Projects features.</summary>
    Tensor Project(Tensor features);
}
