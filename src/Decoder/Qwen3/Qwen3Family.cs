using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;

namespace LlavaModal.Decoder.Qwen3;

/// <summary>The registration of the Qwen3 family: <c>model_type</c> <c>qwen3</c> (the dense Qwen3 checkpoints).</summary>
public sealed class Qwen3Family : IDecoderFamily
{
    /// <inheritdoc />
    public IReadOnlyList<string> ModelTypes { get; } = [Qwen3Config.ModelTypeName];

    /// <inheritdoc />
    public IDecoderConfig ReadConfig(JsonConfig json, bool nested) => Qwen3Config.FromJson(json, requireArchitecture: !nested);

    /// <inheritdoc />
    public CausalLanguageModel Create(IDecoderConfig config, ModelBuildContext build) =>
        new Qwen3ForCausalLM(config as Qwen3Config ?? throw new ArgumentException($"The Qwen3 family builds from a Qwen3Config, not {config.GetType().Name}.", nameof(config)), build);
}
