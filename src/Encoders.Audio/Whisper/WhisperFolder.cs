using System.Text.Json;
using System.Text.Json.Nodes;
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
        var options = new JsonSerializerOptions { WriteIndented = true };
        var config = WhisperConfigJson.Encoder(encoder.Config, ScalarType.Float32);
        config.Insert(0, "architectures", new JsonArray("WhisperModel"));
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(options));
        File.WriteAllText(Path.Combine(directory, "preprocessor_config.json"), WhisperConfigJson.Features(features).ToJsonString(options));
    }
}
