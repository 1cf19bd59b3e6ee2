using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;

namespace LlavaModal.Decoder.Qwen2;

/// <summary>The registration of the Qwen2 family: <c>model_type</c> <c>qwen2</c> (Qwen2, Qwen2.5, Qwen1.5; the decoder of LLaVA-Interleave and LLaVA-OneVision).</summary>
public sealed class Qwen2Family : IDecoderFamily
{
    /// <inheritdoc />
    public IReadOnlyList<string> ModelTypes { get; } = [Qwen2Config.ModelTypeName];

    /// <inheritdoc />
    public IDecoderConfig ReadConfig(JsonConfig json, bool nested) => Qwen2Config.FromJson(json, requireArchitecture: !nested);

    /// <inheritdoc />
    public CausalLanguageModel Create(IDecoderConfig config, ModelBuildContext build) =>
        new Qwen2ForCausalLM(config as Qwen2Config ?? throw new ArgumentException($"The Qwen2 family builds from a Qwen2Config, not {config.GetType().Name}.", nameof(config)), build);
}
