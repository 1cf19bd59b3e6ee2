using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>
/// Decides which loaded plugin takes an input, once, where the input enters (the CLI, the library, the chat
/// services): by the modality it names, else by the media types plugins declare, else by asking each plugin whether it
/// recognises the bytes. The decision is stamped on the input (<see cref="ModalityInput.Modality"/>), and later stages
/// only look the plugin up by that name.
/// </summary>
public sealed class ModalityRouter
{
    readonly IReadOnlyList<ModalityBinding> bindings;
    readonly Dictionary<string, ModalityBinding> byModality;

    internal ModalityRouter(IReadOnlyList<ModalityBinding> bindings)
    {
        this.bindings = bindings;
        byModality = bindings.ToDictionary(b => b.Modality, StringComparer.Ordinal);
    }

    /// <summary>Routes <paramref name="input"/> and returns it stamped with its modality, with the binding that takes it.</summary>
    /// <exception cref="LlavaModalException">No loaded plugin takes it (the message names the input and the loaded plugins).</exception>
    public (ModalityInput Input, ModalityBinding Binding) Route(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var binding = input.Modality is { } modality ? Binding(input, modality) : Choose(input);
        return (input.Modality is null ? input with { Modality = binding.Modality } : input, binding);
    }

    /// <summary>The binding of an input already routed (its modality named).</summary>
    /// <exception cref="LlavaModalException">No plugin of that modality is loaded.</exception>
    internal ModalityBinding Binding(ModalityInput input, string modality) =>
        byModality.GetValueOrDefault(modality)
        ?? throw new LlavaModalException($"{input.Describe()}: no '{modality}' plugin is loaded for this model (loaded: {Loaded()}).");

    ModalityBinding Choose(ModalityInput input)
    {
        // A declared media type decides; application/octet-stream says nothing, so the plugins look at the bytes.
        bool typed = input.MediaType is { } type && !MediaTypes.Matches(type, "application/octet-stream");
        if (typed && bindings.FirstOrDefault(b => b.Encoder.MediaTypes.Any(p => MediaTypes.Matches(input.MediaType, p))) is { } declared) return declared;
        var sniffed = typed ? input : input with { MediaType = null };
        return bindings.FirstOrDefault(b => b.Encoder.Accepts(sniffed))
            ?? throw new LlavaModalException($"{input.Describe()}: no loaded plugin accepts media type '{input.MediaType ?? "unknown"}' (loaded: {Loaded()}).");
    }

    /// <summary>The loaded plugins with their placeholders, for messages.</summary>
    public string Loaded() => bindings.Count == 0 ? "none" : string.Join(", ", bindings.Select(b => $"{b.Modality} {b.Encoder.Placeholder}"));
}
