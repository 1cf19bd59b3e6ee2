using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Encoders.Audio.Reading;
using LlavaModal.Encoders.Audio.Whisper;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Plugin;

/// <summary>An audio input encoded two ways: the encoder's output before pooling, and the features handed to the projector.</summary>
/// <param name="EncoderOutput">The Whisper encoder's last hidden state (final norm applied, no pooling), [windows × max_source_positions, d_model].</param>
/// <param name="Features">The plugin's output (pooled when the checkpoint pools), [windows × tokens per window, d_model]; what <see cref="WhisperAudioEncoder.Encode"/> returns.</param>
public sealed record AudioEncoding(Tensor EncoderOutput, Tensor Features) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        EncoderOutput.Dispose();
        Features.Dispose();
    }
}

/// <summary>
/// The audio plugin: reads a WAV or MP3 clip (mono, resampled to the extractor's rate), turns each consecutive 30 s
/// window into Whisper log-mel features, runs the Whisper encoder (optionally average-pooled, as Qwen2-Audio does) and
/// returns the windows' tokens concatenated in order, so one <c>&lt;audio&gt;</c> placeholder becomes
/// windows × <see cref="TokensPerWindow"/> positions. Clips longer than one window are split or refused as
/// <see cref="AudioPluginOptions.LongClips"/> says.
/// </summary>
public sealed class WhisperAudioEncoder : IModalityEncoder
{
    readonly AudioReader reader;

    /// <summary>Creates the plugin from a loaded encoder and the feature extractor its checkpoint was trained with.</summary>
    /// <param name="encoder">The Whisper encoder.</param>
    /// <param name="extractor">Feature extractor (default: the reference's, with the encoder's mel bins).</param>
    /// <param name="options">Long-clip policy and reading limits.</param>
    /// <exception cref="ArgumentException">The extractor's mel bins or frames per window do not fit the encoder.</exception>
    public WhisperAudioEncoder(WhisperEncoder encoder, WhisperFeatureExtractor? extractor = null, AudioPluginOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        Encoder = encoder;
        FeatureExtractor = extractor ?? new WhisperFeatureExtractor(WhisperFeatureConfig.Default with { FeatureSize = encoder.Config.NumMelBins });
        Options = options ?? new AudioPluginOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.WindowsPerBatch, 1, nameof(options));
        var features = FeatureExtractor.Config;
        if (features.FeatureSize != encoder.Config.NumMelBins)
            throw new ArgumentException($"The feature extractor gives {features.FeatureSize} mel bins but the encoder takes num_mel_bins = {encoder.Config.NumMelBins}.", nameof(extractor));
        if (features.NbMaxFrames != encoder.Config.InputFrames)
            throw new ArgumentException($"The feature extractor gives {features.NbMaxFrames} frames per window but the encoder takes {encoder.Config.InputFrames} (2 × max_source_positions).", nameof(extractor));
        reader = new AudioReader(Options.Reader with { TargetSampleRate = features.SamplingRate });
    }

    /// <summary>The Whisper encoder.</summary>
    public WhisperEncoder Encoder { get; }

    /// <summary>The log-mel feature extractor.</summary>
    public WhisperFeatureExtractor FeatureExtractor { get; }

    /// <summary>The options in use.</summary>
    public AudioPluginOptions Options { get; }

    /// <inheritdoc />
    public string Modality => "audio";

    /// <inheritdoc />
    public string Placeholder => "<audio>";

    /// <inheritdoc />
    public IReadOnlyList<string> MediaTypes { get; } = ["audio/wav", "audio/x-wav", "audio/wave", "audio/mpeg"];

    /// <inheritdoc />
    public int OutputWidth => Encoder.OutputWidth;

    /// <summary>Null: a clip takes <see cref="TokensPerWindow"/> tokens per started window.</summary>
    public int? FixedTokenCount => null;

    /// <summary>Tokens each window becomes: <c>max_source_positions</c> (1500), or half with pooling (750).</summary>
    public int TokensPerWindow => Encoder.TokensPerWindow;

    /// <summary>Length of one encoder window (30 s).</summary>
    public TimeSpan WindowLength => TimeSpan.FromSeconds(FeatureExtractor.Config.ChunkLength);

    /// <inheritdoc />
    public bool Accepts(ModalityInput input)
    {
        if (input.MediaType is { } type && MediaTypes.Any(p => LlavaModal.Abstractions.Modality.MediaTypes.Matches(type, p))) return true;
        var head = input.Data.Span[..Math.Min(12, input.Data.Length)];
        return AudioContainerDetector.Detect(head, input.MediaType) != AudioContainer.Unknown;
    }

    /// <summary>Windows a clip of <paramref name="samples"/> samples takes (at least one).</summary>
    public int WindowCount(long samples) => (int)Math.Max(1, (samples + FeatureExtractor.Config.NSamples - 1) / FeatureExtractor.Config.NSamples);

    /// <inheritdoc />
    /// <returns>Log-mel features [windows, mels, frames] ([n, 80, 3000]), and windows × <see cref="TokensPerWindow"/> tokens.</returns>
    /// <exception cref="InvalidAudioException">Unreadable, corrupt, empty or too long for <see cref="AudioReaderOptions.MaxDuration"/>.</exception>
    /// <exception cref="LlavaModalException">Longer than one window with <see cref="LongClipPolicy.Refuse"/>.</exception>
    public PreparedInput Prepare(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var source = input.Describe();
        var samples = reader.Read(input.Data, input.MediaType, source);
        if (samples.Length == 0) throw new InvalidAudioException(source, "the audio has no samples (zero length).");
        int windows = WindowCount(samples.Length);
        if (windows > 1 && Options.LongClips == LongClipPolicy.Refuse)
        {
            double seconds = samples.Length / (double)FeatureExtractor.Config.SamplingRate;
            throw new LlavaModalException(
                $"{source}: the clip is {seconds:F1} s long, longer than the audio encoder's {WindowLength.TotalSeconds:F0} s window, and long clips are refused " +
                $"(AudioPluginOptions.LongClips = Refuse). Cut it into clips of at most {WindowLength.TotalSeconds:F0} s, or use LongClips = Split to encode it as {windows} consecutive windows ({windows * TokensPerWindow} tokens).");
        }
        var parts = FeatureExtractor.ExtractWindows(samples);
        try
        {
            var values = parts.Count == 1 ? parts[0].alias() : cat(parts.ToArray(), 0);
            return new PreparedInput(values, windows * TokensPerWindow, source);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <inheritdoc />
    /// <returns>[windows × <see cref="TokensPerWindow"/>, d_model] on <paramref name="device"/>.</returns>
    public Tensor Encode(PreparedInput input, Device device)
    {
        using var scope = NewDisposeScope();
        return Run(input, device, keepUnpooled: false).Features.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Encodes like <see cref="Encode"/> and also returns the encoder's output before pooling (after its final norm),
    /// for inspection (<c>llava-modal encode</c>) and parity checks; without pooling both are equal.
    /// </summary>
    public AudioEncoding EncodeDetailed(PreparedInput input, Device device)
    {
        using var scope = NewDisposeScope();
        var (unpooled, features) = Run(input, device, keepUnpooled: true);
        return new AudioEncoding(unpooled!.MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }

    (Tensor? Unpooled, Tensor Features) Run(PreparedInput input, Device device, bool keepUnpooled)
    {
        ArgumentNullException.ThrowIfNull(input);
        var values = input.Values;
        var config = Encoder.Config;
        if (values.dim() != 3 || values.shape[0] < 1 || values.shape[1] != config.NumMelBins || values.shape[2] != config.InputFrames)
            throw new LlavaModalException($"{input.Source}: audio features have shape [{string.Join(", ", values.shape)}], expected [windows, {config.NumMelBins}, {config.InputFrames}].");
        using var noGrad = no_grad();
        var unpooled = new List<Tensor>();
        var features = new List<Tensor>();
        long windows = values.shape[0];
        for (long w = 0; w < windows; w += Options.WindowsPerBatch)
        {
            var batch = values.narrow(0, w, Math.Min(Options.WindowsPerBatch, windows - w));
            if (keepUnpooled)
            {
                var (u, o) = Encoder.ForwardDetailed(batch);
                unpooled.Add(u.reshape(-1, config.DModel));
                features.Add(o.reshape(-1, config.DModel));
            }
            else
            {
                features.Add(Encoder.Forward(batch).reshape(-1, config.DModel));
            }
        }
        Tensor Join(List<Tensor> parts) => (parts.Count == 1 ? parts[0] : cat(parts, 0)).to(device);
        return (keepUnpooled ? Join(unpooled) : null, Join(features));
    }

    /// <inheritdoc />
    public void Dispose() => Encoder.Dispose();
}
