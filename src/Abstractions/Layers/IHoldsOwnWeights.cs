namespace LlavaModal.Abstractions.Layers;

/// <summary>
/// A module whose weights live outside TorchSharp's parameters (a packed or quantized linear layer): how many values
/// they stand for, so a model's parameter count is the same whatever format its layers are held in.
/// </summary>
public interface IHoldsOwnWeights
{
    /// <summary>Values of the weights this module holds outside its parameters (0 for a copy of another module's, as a head tied to the embeddings).</summary>
    long WeightCount { get; }
}
