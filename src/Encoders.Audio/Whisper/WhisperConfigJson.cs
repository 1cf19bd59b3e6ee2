using System.Text.Json.Nodes;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Encoders.Audio.Features;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Whisper;

/// <summary>The Hugging Face keys of a Whisper encoder config and feature extractor, as both the Whisper folder writer and <c>attach-audio</c> write them.</summary>
static class WhisperConfigJson
{
    /// <summary><c>model_type</c> whisper and the encoder's shape, in <paramref name="dtype"/>.</summary>
    public static JsonObject Encoder(WhisperEncoderConfig c, ScalarType dtype) => new()
    {
        ["model_type"] = "whisper",
        ["d_model"] = c.DModel,
        ["encoder_layers"] = c.EncoderLayers,
        ["encoder_attention_heads"] = c.EncoderAttentionHeads,
        ["encoder_ffn_dim"] = c.EncoderFfnDim,
        ["num_mel_bins"] = c.NumMelBins,
        ["max_source_positions"] = c.MaxSourcePositions,
        ["activation_function"] = c.ActivationFunction,
        ["scale_embedding"] = c.ScaleEmbedding,
        ["torch_dtype"] = DTypes.ConfigName(dtype),
    };

    /// <summary><c>preprocessor_config.json</c> of a <c>WhisperFeatureExtractor</c>.</summary>
    public static JsonObject Features(WhisperFeatureConfig f) => new()
    {
        ["feature_extractor_type"] = "WhisperFeatureExtractor",
        ["feature_size"] = f.FeatureSize,
        ["sampling_rate"] = f.SamplingRate,
        ["hop_length"] = f.HopLength,
        ["chunk_length"] = f.ChunkLength,
        ["n_fft"] = f.NFft,
        ["padding_value"] = f.PaddingValue,
        ["n_samples"] = f.NSamples,
        ["nb_max_frames"] = f.NbMaxFrames,
    };
}
