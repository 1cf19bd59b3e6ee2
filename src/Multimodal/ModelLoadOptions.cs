using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal;

/// <summary>How to load a model: dtype and device.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Weights and activations dtype; null keeps the checkpoint's <c>torch_dtype</c>.</summary>
    public ScalarType? DType { get; init; }

    /// <summary>Device name (<c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>); CUDA needs the CUDA runtime build.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Chat template name overriding the one detected from the checkpoint (see <see cref="LlavaModal.Tokenizers.Chat.ChatTemplate.Named"/>).</summary>
    public string? ChatTemplate { get; init; }

    internal Device ResolveDevice()
    {
        try { return device(Device); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ArgumentException($"Unknown device '{Device}' (expected cpu, cuda or cuda:N).", nameof(Device), e);
        }
    }
}
