using LlavaModal.Abstractions.Weights;

namespace LlavaModal.Core.Checkpoints;

/// <summary>
/// A module whose weights are not TorchSharp parameters (packed or quantized layers): <see cref="StateDictLoader"/> asks
/// it which checkpoint tensors it reads, checks them with the rest, then lets it read them.
/// </summary>
interface IReadsOwnWeights
{
    /// <summary>
    /// The checkpoint tensors this module reads (<paramref name="key"/> maps a name relative to the module to its
    /// checkpoint name), and what is wrong with them: missing names, and names with a shape or type it cannot read.
    /// </summary>
    (IReadOnlyList<string> Reads, IReadOnlyList<string> Missing, IReadOnlyList<string> Wrong) Inspect(IWeightSource checkpoint, Func<string, string> key);

    /// <summary>Reads the tensors <see cref="Inspect"/> named.</summary>
    void Read(IWeightSource checkpoint, Func<string, string> key);
}
