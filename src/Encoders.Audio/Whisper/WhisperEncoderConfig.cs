using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Whisper;

/// <summary>
/// The Whisper encoder's hyper-parameters, read from a Hugging Face <c>config.json</c> (<c>model_type</c>
/// <c>whisper</c>), at the top level or in a nested section such as a LLaVA-style folder's <c>audio_config</c>.
/// Absent keys take the <c>transformers</c> (4.44) <c>WhisperConfig</c> defaults, which describe whisper-tiny.
/// </summary>
public sealed record WhisperEncoderConfig
{
    /// <summary>Model width (<c>d_model</c>).</summary>
    public int DModel { get; init; } = 384;
    /// <summary>Encoder layers (<c>encoder_layers</c>).</summary>
    public int EncoderLayers { get; init; } = 4;
    /// <summary>Attention heads per encoder layer (<c>encoder_attention_heads</c>).</summary>
    public int EncoderAttentionHeads { get; init; } = 6;
    /// <summary>MLP inner width (<c>encoder_ffn_dim</c>).</summary>
    public int EncoderFfnDim { get; init; } = 1536;
    /// <summary>Log-mel channels of the input (<c>num_mel_bins</c>).</summary>
    public int NumMelBins { get; init; } = 80;
    /// <summary>Positions after the stride-2 convolution, i.e. tokens per 30 s window before pooling (<c>max_source_positions</c>).</summary>
    public int MaxSourcePositions { get; init; } = 1500;
    /// <summary>Activation of the layers' MLPs (<c>activation_function</c>); the convolutions always use exact GELU, as the reference does.</summary>
    public string ActivationFunction { get; init; } = "gelu";
    /// <summary>
    /// <c>scale_embedding</c>. Read for completeness only: the reference encoder computes <c>sqrt(d_model)</c> from it but never
    /// applies it (it has no token embedding), so it does not change the encoder's output.
    /// </summary>
    public bool ScaleEmbedding { get; init; }
    /// <summary>The dtype the weights were saved in (<c>torch_dtype</c>), or null when the config does not say.</summary>
    public ScalarType? TorchDType { get; init; }
    /// <summary>
    /// When true, the last layer's output is average-pooled over time (kernel 2, stride 2) before the final
    /// <c>layer_norm</c>, as Qwen2-Audio's <c>avg_pooler</c> does, halving the tokens per window (1500 → 750).
    /// Not a Hugging Face key: the caller sets it for architectures that pool.
    /// </summary>
    public bool AveragePool { get; init; }

    /// <summary>Per-head width.</summary>
    public int HeadDim => DModel / EncoderAttentionHeads;

    /// <summary>Mel frames the encoder expects per window (conv2's stride 2 halves them to <see cref="MaxSourcePositions"/>): 3000.</summary>
    public int InputFrames => MaxSourcePositions * 2;

    /// <summary>Tokens one 30 s window becomes: <see cref="MaxSourcePositions"/>, or half of it (floored) with <see cref="AveragePool"/>.</summary>
    public int TokensPerWindow => AveragePool ? MaxSourcePositions / 2 : MaxSourcePositions;

    /// <summary>Reads a <c>config.json</c> file, or its nested <paramref name="section"/> (e.g. <c>audio_config</c>) when given.</summary>
    /// <exception cref="CheckpointException">The file is missing or not JSON.</exception>
    /// <exception cref="ConfigException">An unsupported value or a malformed key, naming the file and key.</exception>
    public static WhisperEncoderConfig Load(string configPath, string? section = null)
    {
        var json = JsonConfig.Load(configPath);
        return FromJson(section is null ? json : json.Section(section));
    }

    /// <summary>Reads a parsed config object (a Whisper config's top level, or a nested section).</summary>
    /// <exception cref="ConfigException">An unsupported value or a malformed key, naming the file and key.</exception>
    public static WhisperEncoderConfig FromJson(JsonConfig json)
    {
        var modelType = json.String("model_type", "whisper");
        if (modelType != "whisper")
            throw json.Error("model_type", $"'{modelType}' is not a Whisper model (expected whisper).");

        var activation = json.String("activation_function", "gelu");
        try { Activations.Get(activation); }
        catch (ArgumentException e) { throw json.Error("activation_function", e.Message); }

        int dModel = Positive(json, "d_model", 384);
        int heads = Positive(json, "encoder_attention_heads", 6);
        if (dModel % heads != 0)
            throw json.Error("encoder_attention_heads", $"{heads} does not divide d_model ({dModel}).");
        int positions = Positive(json, "max_source_positions", 1500);

        return new WhisperEncoderConfig
        {
            DModel = dModel,
            EncoderLayers = Positive(json, "encoder_layers", 4),
            EncoderAttentionHeads = heads,
            EncoderFfnDim = Positive(json, "encoder_ffn_dim", 1536),
            NumMelBins = Positive(json, "num_mel_bins", 80),
            MaxSourcePositions = positions,
            ActivationFunction = activation,
            ScaleEmbedding = json.Bool("scale_embedding", false),
            TorchDType = ParseDType(json),
        };
    }

    static int Positive(JsonConfig json, string key, int fallback)
    {
        var v = json.Int(key, fallback);
        return v > 0 ? v : throw json.Error(key, $"must be positive, got {v}.");
    }

    static ScalarType? ParseDType(JsonConfig json) => json.Has("torch_dtype") ? DTypes.FromConfig(json) : null;
}
