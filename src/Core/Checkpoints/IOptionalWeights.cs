namespace LlavaModal.Core.Checkpoints;

/// <summary>
/// A module with parameters a base checkpoint does not hold (a LoRA layer's <c>lora_A</c> / <c>lora_B</c>):
/// <see cref="StateDictLoader"/> reads them when the checkpoint has them and leaves their initial values otherwise.
/// </summary>
interface IOptionalWeights
{
    /// <summary>The optional parameters' names relative to the module.</summary>
    IReadOnlyList<string> OptionalParameters { get; }
}
