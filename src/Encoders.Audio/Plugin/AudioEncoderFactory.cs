using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Encoders.Audio.Whisper;
using Microsoft.Extensions.Logging;

namespace LlavaModal.Encoders.Audio.Plugin;

/// <summary>
/// Loads the audio plugin of a model folder that carries one (see the README's "Audio" section; <c>llava-modal attach-audio</c>
/// writes such folders): the Whisper encoder from the <c>audio_config</c> object of <c>config.json</c> and the
/// <c>audio_tower.*</c> tensors, the projector (<c>audio_projector_type</c>, default <c>mlp2x_gelu</c>) from
/// <c>audio_projector.*</c>, and the feature extractor from <c>audio_preprocessor_config.json</c> (the Whisper folder's
/// <c>preprocessor_config.json</c>; reference defaults when absent). Folders without <c>audio_config</c> give null.
/// </summary>
public sealed class AudioEncoderFactory(AudioPluginOptions? options = null) : IModalityEncoderFactory
{
    /// <summary>The <c>config.json</c> key of the audio encoder's config.</summary>
    public const string ConfigKey = "audio_config";
    /// <summary>Prefix of the encoder's tensors.</summary>
    public const string TowerPrefix = "audio_tower.";
    /// <summary>Prefix of the projector's tensors.</summary>
    public const string ProjectorPrefix = "audio_projector.";
    /// <summary>The feature extractor's settings, a copy of the Whisper folder's <c>preprocessor_config.json</c>.</summary>
    public const string PreprocessorFileName = "audio_preprocessor_config.json";
    /// <summary>Default projector type.</summary>
    public const string DefaultProjectorType = "mlp2x_gelu";

    readonly AudioPluginOptions options = options ?? new AudioPluginOptions();

    /// <inheritdoc />
    public string Modality => "audio";

    /// <inheritdoc />
    public ModalityBinding? TryLoad(ModalityLoadContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var config = context.Config;
        if (!config.Has(ConfigKey)) return null;
        var section = config.Section(ConfigKey);
        ConfigBounds.Check(section, context.Weights);
        var whisper = WhisperEncoderConfig.FromJson(section) with { AveragePool = section.Bool("audio_pool", false) };
        var features = LoadFeatureConfig(context, whisper);

        var weights = context.Weights;
        var towerPrefix = weights.Find(TowerPrefix, "conv1.weight")
            ?? throw new CheckpointException(context.ModelDirectory, $"config.json has an {ConfigKey} but the weights have no {TowerPrefix}* tensors (attach an encoder with `llava-modal attach-audio`).");
        var tower = WhisperEncoder.Load(weights, whisper, towerPrefix, context.Build);
        ProjectorModule? projector = null;
        try
        {
            var type = section.String("audio_projector_type", DefaultProjectorType);
            var activation = section.String("audio_projector_hidden_act", "gelu");
            try { projector = Projectors.Create(type, tower.OutputWidth, context.DecoderHiddenSize, activation, context.DType, context.Device, context.Build.Linear); }
            catch (ArgumentException e) { throw section.Error(e.ParamName == "name" ? "audio_projector_hidden_act" : "audio_projector_type", e.Message); }
            if (projector.Type != "identity")
            {
                var projectorPrefix = weights.Find(ProjectorPrefix, "linear_1.weight")
                    ?? throw new CheckpointException(context.ModelDirectory, $"config.json has an {ConfigKey} but the weights have no {ProjectorPrefix}* tensors.");
                StateDictLoader.Load(projector, weights, projectorPrefix);
            }
            projector.eval();
            WhisperAudioEncoder encoder;
            try { encoder = new WhisperAudioEncoder(tower, new WhisperFeatureExtractor(features), options); }
            catch (ArgumentException e) { throw new ConfigException(Path.Combine(context.ModelDirectory, PreprocessorFileName), "feature_size", e.Message, e); }
            context.Logger.LogInformation("Audio plugin: Whisper encoder ({Layers} layers, d_model {Width}, {Tokens} tokens per {Seconds} s window{Pool}), projector {Type}",
                whisper.EncoderLayers, whisper.DModel, whisper.TokensPerWindow, features.ChunkLength, whisper.AveragePool ? ", pooled" : "", projector.Type);
            return new ModalityBinding(encoder, projector, config.OptionalInt("audio_token_index"));
        }
        catch
        {
            tower.Dispose();
            projector?.Dispose();
            throw;
        }
    }

    static WhisperFeatureConfig LoadFeatureConfig(ModalityLoadContext context, WhisperEncoderConfig whisper)
    {
        var path = Path.Combine(context.ModelDirectory, PreprocessorFileName);
        if (File.Exists(path)) return WhisperFeatureConfig.Load(path);
        context.Logger.LogInformation("No {File} in {Dir}: using the Whisper feature extractor's defaults with {Mels} mel bins.", PreprocessorFileName, context.ModelDirectory, whisper.NumMelBins);
        return WhisperFeatureConfig.Default with { FeatureSize = whisper.NumMelBins };
    }
}
