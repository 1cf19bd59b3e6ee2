using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;

namespace LlavaModal.Decoder.Llama;

/// <summary>The registration of the LLaMA family: <c>model_type</c> <c>llama</c> and <c>mistral</c> (same layers; Mistral adds a sliding window).</summary>
public sealed class LlamaFamily : IDecoderFamily
{
    /// <inheritdoc />
    public IReadOnlyList<string> ModelTypes { get; } = ["llama", "mistral"];

    /// <inheritdoc />
    public IDecoderConfig ReadConfig(JsonConfig json, bool nested) => LlamaConfig.FromJson(json, requireArchitecture: !nested);

    /// <inheritdoc />
    public CausalLanguageModel Create(IDecoderConfig config, ModelBuildContext build) =>
        new LlamaForCausalLM(config as LlamaConfig ?? throw new ArgumentException($"The LLaMA family builds from a LlamaConfig, not {config.GetType().Name}.", nameof(config)), build);
}
