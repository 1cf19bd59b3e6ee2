using LlavaModal.Abstractions.Hosting;
using LlavaModal.Encoders.Audio.Plugin;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Whisper audio plugin.</summary>
public static class AudioServiceCollectionExtensions
{
    /// <summary>
    /// Adds the audio plugin: used when the model folder has an <c>audio_config</c> (see <c>llava-modal attach-audio</c>),
    /// ignored otherwise. Prompts then take <c>&lt;audio&gt;</c> placeholders matched with WAV or MP3 inputs.
    /// </summary>
    /// <example><code>
    /// services.AddLlavaModal(o => o.ModelDirectory = "models/llava-audio")
    ///         .AddAudio(new AudioPluginOptions { LongClips = LongClipPolicy.Refuse });
    /// </code></example>
    public static LlavaModalBuilder AddAudio(this LlavaModalBuilder builder, AudioPluginOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddModalityEncoderFactory(new AudioEncoderFactory(options));
    }
}
