using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Training.Modeling;

/// <summary>
/// A non-image modality plugin held for training: its binding's encoder, always frozen (it runs without autograd, so
/// no gradient can reach it whatever the plugin is), and its projector, trained in the stages that choose the modality
/// and saved as <c>{modality}_projector.*</c>, the names the audio factory and <c>.AddModalityEncoder</c> read. The
/// encoder's features of a file are computed once and kept (the encoder is frozen, so they never change): a training
/// run encodes each clip once instead of once per epoch.
/// </summary>
public sealed class TrainableModality : IDisposable
{
    readonly Dictionary<string, Tensor> cache = new(StringComparer.Ordinal);
    long cachedBytes;

    /// <summary>Wraps a loaded binding; its projector must be a trainable <see cref="ProjectorModule"/>.</summary>
    /// <exception cref="LlavaModalException">The binding's projector is not a <see cref="ProjectorModule"/>.</exception>
    public TrainableModality(ModalityBinding binding, int placeholderTokenId)
    {
        ArgumentNullException.ThrowIfNull(binding);
        Binding = binding;
        Projector = binding.Projector as ProjectorModule
            ?? throw new LlavaModalException($"the {binding.Modality} plugin's projector is a {binding.Projector.GetType().Name}, not a trainable ProjectorModule.");
        PlaceholderTokenId = placeholderTokenId;
    }

    /// <summary>The loaded plugin and projector.</summary>
    public ModalityBinding Binding { get; }

    /// <summary>The modality's name.</summary>
    public string Modality => Binding.Modality;

    /// <summary>The placeholder text (<c>&lt;audio&gt;</c>).</summary>
    public string Placeholder => Binding.Encoder.Placeholder;

    /// <summary>The placeholder's token id.</summary>
    public int PlaceholderTokenId { get; }

    /// <summary>The projector.</summary>
    public ProjectorModule Projector { get; }

    /// <summary>Checkpoint prefix of the projector's tensors.</summary>
    public string ProjectorPrefix => ProjectorPrefixOf(Modality);

    /// <summary>Checkpoint prefix of a modality's projector: <c>{modality}_projector.</c>.</summary>
    public static string ProjectorPrefixOf(string modality) => $"{modality}_projector.";

    /// <summary>Most bytes of encoder features kept in memory; files beyond it are encoded again each time they are used.</summary>
    public long MaxCacheBytes { get; init; } = 4L << 30;

    /// <summary>The frozen encoder's features [tokens, width] of a file, checked against the tokens the plugin announced.</summary>
    /// <exception cref="LlavaModalException">The file is unreadable or the plugin's output has the wrong shape (names the file).</exception>
    public Tensor Features(string path)
    {
        if (cache.TryGetValue(path, out var cached)) return cached.alias();
        var features = Encode(path);
        long bytes = features.NumberOfElements * features.ElementSize;
        if (cachedBytes + bytes > MaxCacheBytes) return features;
        // Kept outside every dispose scope; callers get aliases, which their scopes may dispose.
        features.DetachFromDisposeScope();
        cache[path] = features;
        cachedBytes += bytes;
        return features.alias();
    }

    Tensor Encode(string path)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var prepared = Binding.Encoder.Prepare(ModalityInput.FromFile(path, Modality));
        var features = Binding.Encoder.Encode(prepared, CPU);
        if (features.dim() != 2 || features.shape[1] != Binding.Encoder.OutputWidth || features.shape[0] != prepared.TokenCount)
            throw new LlavaModalException($"{path}: the {Modality} encoder returned features of shape [{string.Join(", ", features.shape)}], expected [{prepared.TokenCount}, {Binding.Encoder.OutputWidth}].");
        return features.detach().clone().MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in cache.Values) t.Dispose();
        cache.Clear();
        Binding.Dispose();
    }
}
