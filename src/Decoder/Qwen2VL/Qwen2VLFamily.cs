using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;

namespace LlavaModal.Decoder.Qwen2VL;

/// <summary>The registration of Qwen2-VL's language model: <c>model_type</c> <c>qwen2_vl</c> (Qwen2 layers with M-RoPE; the vision tower is the image plugin's).</summary>
public sealed class Qwen2VLFamily : IDecoderFamily
{
    /// <inheritdoc />
    public IReadOnlyList<string> ModelTypes { get; } = [Qwen2VLConfig.ModelTypeName];

    /// <inheritdoc />
    public IDecoderConfig ReadConfig(JsonConfig json, bool nested) => Qwen2VLConfig.FromJson(json, requireArchitecture: !nested);

    /// <inheritdoc />
    public CausalLanguageModel Create(IDecoderConfig config, ModelBuildContext build) =>
        new Qwen2VLForCausalLM(config as Qwen2VLConfig ?? throw new ArgumentException($"The Qwen2-VL family builds from a Qwen2VLConfig, not {config.GetType().Name}.", nameof(config)), build);
}
