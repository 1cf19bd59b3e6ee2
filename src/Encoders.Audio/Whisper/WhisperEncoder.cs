using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Whisper;

/// <summary>
/// The encoder half of a Hugging Face Whisper checkpoint: two GELU convolutions (the second with stride 2) turn
/// log-mel features [B, mels, 3000] into [B, 1500, d_model], learned positions are added, then pre-LN transformer
/// layers and a final <c>layer_norm</c> (optionally preceded by Qwen2-Audio-style average pooling).
/// Module paths equal the checkpoint's tensor names below the encoder's prefix (<c>conv1.weight</c>,
/// <c>layers.0.self_attn.q_proj.weight</c>), so loading is one prefix.
/// </summary>
public sealed class WhisperEncoder : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Conv1d conv1, conv2;
    readonly Embedding embed_positions;
    readonly ModuleList<WhisperEncoderLayer> layers;
    readonly LayerNorm layer_norm;
#pragma warning restore IDE1006

    /// <summary>The prefixes of the usual layouts, in the order they are tried when several fit.</summary>
    static readonly string[] KnownPrefixes = ["encoder.", "model.encoder."];

    /// <summary>Creates a randomly initialised encoder with TorchSharp layers and eager attention (weights are normally loaded right after, see <see cref="Load(IWeightSource, WhisperEncoderConfig, string, ModelBuildContext)"/>).</summary>
    public WhisperEncoder(WhisperEncoderConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null)
        : this(config, new ModelBuildContext(dtype, device ?? CPU, TorchLinearFactory.Instance, new EagerAttention())) { }

    /// <summary>Creates the encoder with the given layer factories (uninitialised inside a skip-init scope).</summary>
    public WhisperEncoder(WhisperEncoderConfig config, ModelBuildContext build) : base(nameof(WhisperEncoder))
    {
        Config = config;
        var dtype = build.DType;
        DType = dtype;
        Device = build.Device;
        conv1 = nn.Conv1d(config.NumMelBins, config.DModel, 3, padding: 1, device: Device, dtype: dtype);
        conv2 = nn.Conv1d(config.DModel, config.DModel, 3, stride: 2, padding: 1, device: Device, dtype: dtype);
        embed_positions = WeightInit.Embedding(config.MaxSourcePositions, config.DModel, device: Device, dtype: dtype);
        layers = new ModuleList<WhisperEncoderLayer>(Enumerable.Range(0, config.EncoderLayers).Select(_ => new WhisperEncoderLayer(config, build)).ToArray());
        layer_norm = nn.LayerNorm(config.DModel, WhisperEncoderLayer.LayerNormEps, device: Device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>The architecture.</summary>
    public WhisperEncoderConfig Config { get; }

    /// <summary>The dtype of the weights and activations.</summary>
    public ScalarType DType { get; }

    /// <summary>The device the encoder lives on.</summary>
    public Device Device { get; }

    /// <summary>Width of each output vector (<c>d_model</c>).</summary>
    public int OutputWidth => Config.DModel;

    /// <summary>Tokens per 30 s window: 1500, or 750 with average pooling.</summary>
    public int TokensPerWindow => Config.TokensPerWindow;

    /// <summary>
    /// Loads the encoder from <paramref name="checkpoint"/>, reading parameter <c>p</c> from tensor <c>prefix + p</c>.
    /// Strict over the tensors under <paramref name="prefix"/>; everything else (a Whisper decoder, <c>proj_out</c>, a
    /// language model) is ignored.
    /// </summary>
    /// <param name="checkpoint">Open weights.</param>
    /// <param name="config">Architecture.</param>
    /// <param name="prefix">The encoder's prefix, e.g. <c>encoder.</c>, <c>model.encoder.</c> or <c>audio_tower.</c> (see <see cref="DetectPrefix(IWeightSource)"/>).</param>
    /// <param name="dtype">Weights dtype (stored tensors are converted).</param>
    /// <param name="device">Target device.</param>
    /// <exception cref="CheckpointMismatchException">Encoder tensors missing, unexpected or of the wrong shape (all named).</exception>
    public static WhisperEncoder Load(IWeightSource checkpoint, WhisperEncoderConfig config, string prefix, ScalarType dtype, Device device) =>
        Load(checkpoint, config, prefix, new ModelBuildContext(dtype, device, TorchLinearFactory.Instance, new EagerAttention()));

    /// <summary>Loads the encoder as <see cref="Load(IWeightSource, WhisperEncoderConfig, string, ScalarType, Device)"/> does, built with the given layer factories.</summary>
    public static WhisperEncoder Load(IWeightSource checkpoint, WhisperEncoderConfig config, string prefix, ModelBuildContext build)
    {
        ArgumentNullException.ThrowIfNull(build);
        WhisperEncoder encoder;
        using (WeightInit.SkipRandomInit()) encoder = new WhisperEncoder(config, build);
        try
        {
            StateDictLoader.Load(encoder, checkpoint, prefix);
        }
        catch
        {
            encoder.Dispose();
            throw;
        }
        encoder.eval();
        return encoder;
    }

    /// <summary>
    /// Loads the encoder from a folder holding <c>config.json</c> and safetensors weights: a Whisper checkpoint
    /// (<c>WhisperModel</c> or <c>WhisperForConditionalGeneration</c>), or a multimodal folder whose <c>config.json</c> has a
    /// Whisper <c>audio_config</c> section and whose weights hold one encoder under any prefix.
    /// </summary>
    /// <param name="directory">Model folder.</param>
    /// <param name="dtype">Weights dtype (default: <c>torch_dtype</c>, else the checkpoint's predominant float type).</param>
    /// <param name="device">Target device (default CPU).</param>
    /// <param name="averagePool">Pool the output to half the tokens (see <see cref="WhisperEncoderConfig.AveragePool"/>).</param>
    public static WhisperEncoder FromPretrained(string directory, ScalarType? dtype = null, Device? device = null, bool averagePool = false)
    {
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "model folder not found.");
        var json = JsonConfig.Load(Path.Combine(directory, "config.json"));
        // A Whisper config describes the encoder at the top level; a multimodal one nests it.
        var section = json.Has("audio_config") && json.OptionalString("model_type") != "whisper" ? json.Section("audio_config") : json;
        var config = WhisperEncoderConfig.FromJson(section) with { AveragePool = averagePool };
        using var checkpoint = SafeTensorsCheckpoint.Open(directory);
        return Load(checkpoint, config, DetectPrefix(checkpoint), dtype ?? config.TorchDType ?? checkpoint.PredominantFloatType(), device ?? CPU);
    }

    /// <summary>
    /// Finds the encoder's prefix in a checkpoint: the prefix <c>P</c> for which <c>P conv1.weight</c>, <c>P conv2.weight</c>
    /// and <c>P embed_positions.weight</c> all exist (<c>encoder.</c>, <c>model.encoder.</c>, <c>audio_tower.</c>, ...).
    /// </summary>
    /// <exception cref="CheckpointException">No Whisper encoder, or several with none of the usual prefixes among them (all listed).</exception>
    public static string DetectPrefix(IWeightSource checkpoint) => DetectPrefix(checkpoint.Names, checkpoint.Directory);

    internal static string DetectPrefix(IEnumerable<string> names, string source)
    {
        const string anchor = "conv1.weight";
        var set = names.ToHashSet(StringComparer.Ordinal);
        var candidates = set.Where(n => n.EndsWith(anchor, StringComparison.Ordinal))
            .Select(n => n[..^anchor.Length])
            .Where(p => (p.Length == 0 || p.EndsWith('.')) && set.Contains(p + "conv2.weight") && set.Contains(p + "embed_positions.weight"))
            .OrderBy(p => p, StringComparer.Ordinal).ToList();
        if (candidates.Count == 1) return candidates[0];
        if (candidates.Count == 0)
            throw new CheckpointException(source, "no Whisper encoder found: expected tensors '<prefix>conv1.weight', '<prefix>conv2.weight' and '<prefix>embed_positions.weight'.");
        return KnownPrefixes.FirstOrDefault(candidates.Contains)
            ?? throw new CheckpointException(source, $"several Whisper encoders found (prefixes {string.Join(", ", candidates.Select(p => $"'{p}'"))}); pass the prefix explicitly.");
    }

    /// <summary>Encodes one or more 30 s windows of log-mel features.</summary>
    /// <param name="inputFeatures">[B, num_mel_bins, 2 × max_source_positions] (<c>[B, 80, 3000]</c>), any float dtype, any device.</param>
    /// <param name="hiddenStates">When given, receives the reference's <c>output_hidden_states</c>: the input to every layer (index 0 =
    /// convolutions plus positions), then the final output.</param>
    /// <returns>[B, <see cref="TokensPerWindow"/>, d_model] in <see cref="DType"/>, on <see cref="Device"/>.</returns>
    /// <exception cref="ArgumentException">The features have the wrong shape.</exception>
    public Tensor Forward(Tensor inputFeatures, List<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        int firstState = hiddenStates?.Count ?? 0;
        var h = RunLayers(inputFeatures, hiddenStates);
        for (int i = firstState; i < (hiddenStates?.Count ?? 0); i++) hiddenStates![i].MoveToOuterDisposeScope();
        if (Config.AveragePool) h = nn.functional.avg_pool1d(h.transpose(1, 2), 2, 2).transpose(1, 2);
        var output = layer_norm.forward(h).MoveToOuterDisposeScope();
        hiddenStates?.Add(output.alias().MoveToOuterDisposeScope());
        return output;
    }

    /// <summary>
    /// The output with and without pooling from one pass through the layers: <c>Unpooled</c> is the final norm of the last
    /// layer's output ([B, max_source_positions, d_model], what <see cref="Forward"/> returns without pooling) and
    /// <c>Output</c> what <see cref="Forward"/> returns (the same tensor values when <see cref="WhisperEncoderConfig.AveragePool"/> is off).
    /// </summary>
    internal (Tensor Unpooled, Tensor Output) ForwardDetailed(Tensor inputFeatures)
    {
        using var scope = NewDisposeScope();
        var h = RunLayers(inputFeatures);
        var unpooled = layer_norm.forward(h);
        var output = Config.AveragePool ? layer_norm.forward(nn.functional.avg_pool1d(h.transpose(1, 2), 2, 2).transpose(1, 2)) : unpooled.alias();
        return (unpooled.MoveToOuterDisposeScope(), output.MoveToOuterDisposeScope());
    }

    /// <summary>The last layer's output before pooling and the final norm, [B, max_source_positions, d_model].</summary>
    internal Tensor RunLayers(Tensor inputFeatures, List<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        long frames = Config.InputFrames;
        if (inputFeatures.dim() != 3 || inputFeatures.shape[1] != Config.NumMelBins || inputFeatures.shape[2] != frames)
            throw new ArgumentException(
                $"Whisper encoder input must be [batch, {Config.NumMelBins}, {frames}] log-mel features (one padded 30 s window each), got [{string.Join(", ", inputFeatures.shape)}].",
                nameof(inputFeatures));
        var x = inputFeatures.to(DType, Device);
        x = nn.functional.gelu(Convolve(x, conv1, stride: 1)).transpose(1, 2);
        x = nn.functional.gelu(Convolve(x, conv2, stride: 2));
        var h = x.Plus(embed_positions.weight!);
        foreach (var layer in layers)
        {
            hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
            var next = layer.forward(h);
            // Freed once the next exists, as the decoder and CLIP do: every layer's [T, d] output would otherwise live until the encoder returns.
            if (hiddenStates is null) h.Dispose();
            h = next;
        }
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A kernel-3, padding-1 convolution of [B, C, T] as one matrix product over unfolded windows, returning [B, T', out]
    /// (time first, as the layers take it). Not <c>Conv1d.forward</c>: libtorch 2.10's CPU conv1d returned non-finite
    /// values for finite inputs in about 1 of 10 calls with 2 threads on this project's machines (never with 1 thread,
    /// never through the product), which made an encoder's training diverge to NaN and could corrupt inference.
    /// </summary>
    static Tensor Convolve(Tensor x, Conv1d conv, int stride)
    {
        using var scope = NewDisposeScope();
        var weight = conv.weight!;
        long outChannels = weight.shape[0], window = weight.shape[1] * weight.shape[2];
        // [B, C, T + 2] → windows [B, C, T', 3] → [B, T', C·3], the layout of weight.view(out, C·3).
        var windows = nn.functional.pad(x, [1, 1]).unfold(2, weight.shape[2], stride).permute(0, 2, 1, 3).reshape(x.shape[0], -1, window);
        var y = windows.matmul(weight.view(outChannels, window).t());
        if (conv.bias is { } bias) y = y.Plus(bias);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>The final norm, for tests that rebuild the pooled output by hand.</summary>
    internal LayerNorm FinalLayerNorm => layer_norm;

    /// <summary>Number of parameters.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());
}
