using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;

namespace LlavaModal.Abstractions.Decoding;

/// <summary>
/// A decoder family registered by the <c>model_type</c>s it reads (top-level <c>config.json</c>, or the
/// <c>text_config</c> of a multimodal config): its config parser and its module. Registering one (in an
/// <see cref="Architectures.IArchitectureCatalog"/>, or with <c>AddDecoderFamily</c> on the DI builder) is all it
/// takes for model folders that name it to load and generate.
/// </summary>
public interface IDecoderFamily
{
    /// <summary>The <c>model_type</c> values this family reads (<c>llama</c>, <c>mistral</c>).</summary>
    IReadOnlyList<string> ModelTypes { get; }

    /// <summary>Parses the family's config.</summary>
    /// <param name="json">The config object (top level, or <c>text_config</c>).</param>
    /// <param name="nested">
    /// True for a <c>text_config</c>, which the reference writes with only the values that differ from the class
    /// defaults; false for a top-level config, where the architecture's sizes are required.
    /// </param>
    /// <exception cref="ConfigException">A missing or unsupported key, naming it.</exception>
    IDecoderConfig ReadConfig(JsonConfig json, bool nested);

    /// <summary>Builds the module (weights uninitialised inside a skip-init scope, random otherwise).</summary>
    CausalLanguageModel Create(IDecoderConfig config, ModelBuildContext build);

    /// <summary>
    /// A tensor every checkpoint of the family has, relative to the decoder's root (default
    /// <c>model.embed_tokens.weight</c>): where it is found tells where the decoder's tensors live in the file.
    /// </summary>
    string ProbeTensor => "model.embed_tokens.weight";

    /// <summary>True for stored tensors the module deliberately does not use (legacy buffers), relative to the decoder's root.</summary>
    bool IgnoresTensor(string name) => false;
}
