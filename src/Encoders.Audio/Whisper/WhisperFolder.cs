using System.Text.Json;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Audio.Features;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Whisper;

/// <summary>
/// Writes a Whisper encoder as a Hugging Face Whisper folder (<c>config.json</c> with <c>model_type</c> <c>whisper</c>,
/// <c>model.safetensors</c> with the tensors under <c>encoder.</c>, <c>preprocessor_config.json</c>): what
/// <c>attach-audio</c> and <see cref="WhisperEncoder.Load(Abstractions.Weights.IWeightSource, WhisperEncoderConfig, string, ScalarType, Device)"/>
/// read, so an encoder trained here (the audio toy curriculum's) is attached like any Whisper checkpoint.
/// </summary>
public static class WhisperFolder
{
    /// <summary>Writes <paramref name="encoder"/> and its feature extractor's settings to <paramref name="directory"/> (float32).</summary>
    public static void Write(string directory, WhisperEncoder encoder, WhisperFeatureConfig features)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(features);
        Directory.CreateDirectory(directory);
        var tensors = encoder.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(encoder.named_buffers().Select(b => (b.name, b.buffer)))
            .Select(t => new KeyValuePair<string, Tensor>("encoder." + t.Item1, t.Item2.detach().to(ScalarType.Float32).contiguous()))
            .ToList();
        SafeTensorsWriter.Write(Path.Combine(directory, SafeTensorsCheckpoint.SingleFileName), tensors);
        foreach (var t in tensors) t.Value.Dispose();
        var c = encoder.Config;
        var options = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["architectures"] = new[] { "WhisperModel" },
            ["model_type"] = "whisper",
            ["d_model"] = c.DModel,
            ["encoder_layers"] = c.EncoderLayers,
            ["encoder_attention_heads"] = c.EncoderAttentionHeads,
            ["encoder_ffn_dim"] = c.EncoderFfnDim,
            ["num_mel_bins"] = c.NumMelBins,
            ["max_source_positions"] = c.MaxSourcePositions,
            ["activation_function"] = c.ActivationFunction,
            ["scale_embedding"] = c.ScaleEmbedding,
            ["torch_dtype"] = DTypes.ConfigName(ScalarType.Float32),
        }, options));
        File.WriteAllText(Path.Combine(directory, "preprocessor_config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["feature_extractor_type"] = "WhisperFeatureExtractor",
            ["feature_size"] = features.FeatureSize,
            ["sampling_rate"] = features.SamplingRate,
            ["hop_length"] = features.HopLength,
            ["chunk_length"] = features.ChunkLength,
            ["n_fft"] = features.NFft,
            ["padding_value"] = features.PaddingValue,
            ["n_samples"] = features.NSamples,
            ["nb_max_frames"] = features.NbMaxFrames,
        }, options));
    }
}
