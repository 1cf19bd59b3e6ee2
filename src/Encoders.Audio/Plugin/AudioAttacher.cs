using System.Text.Json;
using System.Text.Json.Nodes;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.IO;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Audio.Features;
using LlavaModal.Encoders.Audio.Whisper;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Audio.Plugin;

/// <summary>Options of <see cref="AudioAttacher.Attach"/>.</summary>
public sealed record AttachAudioOptions
{
    /// <summary>Projector type: <c>mlp2x_gelu</c> (default), <c>linear</c>, <c>mlpNx_gelu</c>, or <c>identity</c> when the widths are equal.</summary>
    public string ProjectorType { get; init; } = AudioEncoderFactory.DefaultProjectorType;

    /// <summary>Average-pool the encoder's output to half the tokens per window (1500 → 750), as Qwen2-Audio does.</summary>
    public bool AveragePool { get; init; }

    /// <summary>Seed of the projector's initial weights.</summary>
    public long Seed { get; init; }

    /// <summary>Write into an output folder that is not empty (files of the same names are replaced; the inputs never are).</summary>
    public bool Overwrite { get; init; }
}

/// <summary>What <see cref="AudioAttacher.Attach"/> wrote.</summary>
/// <param name="OutputDirectory">The new model folder.</param>
/// <param name="Encoder">The attached encoder's architecture.</param>
/// <param name="EncoderTensorPrefix">Where the encoder's tensors were found in the Whisper checkpoint (<c>encoder.</c>, <c>model.encoder.</c>).</param>
/// <param name="EncoderParameters">Parameters copied into <c>audio_tower.*</c>.</param>
/// <param name="ProjectorParameters">Parameters of the fresh projector.</param>
/// <param name="DecoderHiddenSize">The projector's output width.</param>
/// <param name="SkippedDirectories">Subfolders of the model folder that were not copied.</param>
public sealed record AttachAudioResult(string OutputDirectory, WhisperEncoderConfig Encoder, string EncoderTensorPrefix, long EncoderParameters, long ProjectorParameters,
    int DecoderHiddenSize, IReadOnlyList<string> SkippedDirectories);

/// <summary>
/// Attaches a Whisper encoder to a LLaVA-style or plain LLaMA model folder, writing a new folder (the inputs are only read):
/// the model's files copied, <c>config.json</c> with an added <c>audio_config</c>, <c>audio_preprocessor_config.json</c>,
/// and <c>model-audio.safetensors</c> holding the encoder (<c>audio_tower.*</c>, Whisper's names) and a freshly initialised
/// projector (<c>audio_projector.linear_N.*</c>: weights N(0, 0.02), biases zero, seeded), listed together with the
/// model's own weights in <c>model.safetensors.index.json</c>. A single <c>model.safetensors</c> is copied as
/// <c>model-base.safetensors</c>, so the folder has one unambiguous index.
/// </summary>
public static class AudioAttacher
{
    /// <summary>The file holding the audio tensors.</summary>
    public const string AudioWeightsFileName = "model-audio.safetensors";
    /// <summary>The name a single-file model's weights are copied under.</summary>
    public const string BaseWeightsFileName = "model-base.safetensors";

    /// <summary>Writes the model in <paramref name="modelDirectory"/> with the encoder of <paramref name="whisperDirectory"/> attached to <paramref name="outputDirectory"/>.</summary>
    /// <param name="modelDirectory">A LLaVA-style (<c>text_config</c>) or LLaMA model folder.</param>
    /// <param name="whisperDirectory">A Hugging Face Whisper folder (<c>WhisperModel</c> / <c>WhisperForConditionalGeneration</c>; the decoder half is dropped).</param>
    /// <param name="outputDirectory">A new or empty folder, outside both inputs.</param>
    /// <param name="options">Projector type, pooling, seed.</param>
    /// <exception cref="ArgumentException">The output folder is not new or empty, or lies inside an input; or an unknown projector type.</exception>
    /// <exception cref="CheckpointException">An input is missing, malformed, already has audio, or its encoder tensors do not fit its config.</exception>
    public static AttachAudioResult Attach(string modelDirectory, string whisperDirectory, string outputDirectory, AttachAudioOptions? options = null)
    {
        options ??= new AttachAudioOptions();
        var model = Path.GetFullPath(modelDirectory);
        var whisperDir = Path.GetFullPath(whisperDirectory);
        if (!Directory.Exists(model)) throw new CheckpointException(modelDirectory, "model folder not found.");
        if (!Directory.Exists(whisperDir)) throw new CheckpointException(whisperDirectory, "Whisper folder not found.");
        // Symbolic links resolved: no spelling of the output reaches into an input.
        var output = OutputPaths.CheckFolder(outputDirectory, [model, whisperDir], options.Overwrite, nameof(outputDirectory), "AttachAudioOptions.Overwrite");

        // The model: its config (kept as JSON to add one key), its width, its dtype.
        var configPath = Path.Combine(model, "config.json");
        var config = JsonConfig.Load(configPath);
        if (config.Has(AudioEncoderFactory.ConfigKey))
            throw new CheckpointException(configPath, $"the model already has an {AudioEncoderFactory.ConfigKey}; attach audio to a model without one.");
        var textConfig = config.Has("text_config") ? config.Section("text_config") : config;
        // llava-hf configs often omit text_config.hidden_size; LLaVA's text_config defaults to LLaMA's, whose width is 4096.
        int hidden = textConfig.Int("hidden_size", 4096);

        // The encoder: config, tensors (strictly checked against the architecture), feature extractor settings.
        var whisperConfigPath = Path.Combine(whisperDir, "config.json");
        var whisperJson = JsonConfig.Load(whisperConfigPath);
        var whisperSection = whisperJson.Has(AudioEncoderFactory.ConfigKey) && whisperJson.OptionalString("model_type") != "whisper" ? whisperJson.Section(AudioEncoderFactory.ConfigKey) : whisperJson;
        var whisper = WhisperEncoderConfig.FromJson(whisperSection) with { AveragePool = options.AveragePool };
        var featurePath = Path.Combine(whisperDir, "preprocessor_config.json");
        var features = File.Exists(featurePath) ? WhisperFeatureConfig.Load(featurePath) : WhisperFeatureConfig.Default with { FeatureSize = whisper.NumMelBins };
        if (features.FeatureSize != whisper.NumMelBins)
            throw new ConfigException(featurePath, "feature_size", $"is {features.FeatureSize}, but the encoder's num_mel_bins is {whisper.NumMelBins}.");
        if (features.NbMaxFrames != whisper.InputFrames)
            throw new ConfigException(featurePath, "chunk_length", $"gives {features.NbMaxFrames} frames per window, but the encoder takes {whisper.InputFrames} (2 × max_source_positions).");

        using var whisperWeights = SafeTensorsCheckpoint.Open(whisperDir);
        var prefix = WhisperEncoder.DetectPrefix(whisperWeights);
        var encoderSpecs = EncoderSpecs(whisperWeights, whisper, prefix, whisperDir);

        // Fresh projector, in the model's dtype.
        using var modelWeights = SafeTensorsCheckpoint.Open(model);
        var clash = modelWeights.Names.FirstOrDefault(n => n.StartsWith(AudioEncoderFactory.TowerPrefix, StringComparison.Ordinal) || n.StartsWith(AudioEncoderFactory.ProjectorPrefix, StringComparison.Ordinal)
            || n.StartsWith("model." + AudioEncoderFactory.TowerPrefix, StringComparison.Ordinal) || n.StartsWith("model." + AudioEncoderFactory.ProjectorPrefix, StringComparison.Ordinal));
        if (clash is not null) throw new CheckpointException(model, $"the weights already hold audio tensors ('{clash}').");
        var modelDType = ModelDType(config, textConfig, modelWeights);
        List<TensorSpec> projectorSpecs;
        using (var meta = Projectors.Create(options.ProjectorType, whisper.DModel, hidden, "gelu", modelDType, device("meta")))
            projectorSpecs = meta.named_parameters().Select(p => new TensorSpec(AudioEncoderFactory.ProjectorPrefix + p.name, p.parameter.shape, modelDType)).ToList();

        bool created = !Directory.Exists(output);
        // Only what this call wrote is removed on failure: a folder that held files before (Overwrite) is left as it is.
        bool wasEmpty = created || !Directory.EnumerateFileSystemEntries(output).Any();
        var skipped = new List<string>();
        try
        {
            Directory.CreateDirectory(output);
            var weightMap = CopyModelFiles(model, output, skipped);

            var generator = new Generator((ulong)options.Seed);
            var specs = encoderSpecs.Select(s => s.Spec).Concat(projectorSpecs).ToList();
            var sourceName = encoderSpecs.ToDictionary(s => s.Spec.Name, s => s.Source);
            SafeTensorsWriter.Write(Path.Combine(output, AudioWeightsFileName), specs, spec =>
            {
                if (sourceName.TryGetValue(spec.Name, out var source)) return whisperWeights.Read(source);
                if (spec.Name.EndsWith(".bias", StringComparison.Ordinal)) return zeros(spec.Shape, spec.Type);
                using var values = normal(0, 0.02, spec.Shape, generator: generator);
                return values.to(spec.Type);
            }, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var spec in specs) weightMap[spec.Name] = AudioWeightsFileName;
            WriteIndex(output, weightMap);

            var preprocessorTarget = Path.Combine(output, AudioEncoderFactory.PreprocessorFileName);
            if (File.Exists(featurePath)) File.Copy(featurePath, preprocessorTarget);
            else File.WriteAllText(preprocessorTarget, WhisperConfigJson.Features(features).ToJsonString(Indented));

            var root = JsonNode.Parse(File.ReadAllText(configPath), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip })!.AsObject();
            root[AudioEncoderFactory.ConfigKey] = AudioConfigJson(whisper, options.ProjectorType, encoderSpecs.Count > 0 ? encoderSpecs[0].Spec.Type : ScalarType.Float32);
            File.WriteAllText(Path.Combine(output, "config.json"), root.ToJsonString(Indented) + "\n");
        }
        catch
        {
            try
            {
                if (created) Directory.Delete(output, true);
                else if (wasEmpty) foreach (var entry in Directory.EnumerateFileSystemEntries(output).ToList())
                        if (Directory.Exists(entry)) Directory.Delete(entry, true); else File.Delete(entry);
            }
            catch (IOException) { }
            throw;
        }
        return new AttachAudioResult(output, whisper, prefix, encoderSpecs.Sum(s => s.Spec.Shape.Aggregate(1L, (a, b) => a * b)),
            projectorSpecs.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)), hidden, skipped);
    }

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The encoder's tensors: every parameter of the architecture must be under <paramref name="prefix"/> with its shape, and nothing else may be (the decoder half lives elsewhere).</summary>
    static List<(TensorSpec Spec, string Source)> EncoderSpecs(SafeTensorsCheckpoint weights, WhisperEncoderConfig config, string prefix, string directory)
    {
        using var meta = new WhisperEncoder(config, ScalarType.Float32, device("meta"));
        var expected = meta.named_parameters().Select(p => (p.name, p.parameter.shape)).Concat(meta.named_buffers().Select(b => (b.name, b.buffer.shape))).ToList();
        var missing = new List<string>();
        var wrongShape = new List<string>();
        var specs = new List<(TensorSpec, string)>();
        foreach (var (name, shape) in expected)
        {
            var source = prefix + name;
            if (!weights.Contains(source)) { missing.Add(source); continue; }
            var info = weights.Info(source);
            if (!info.Shape.SequenceEqual(shape)) { wrongShape.Add($"{source} [{string.Join(", ", info.Shape)}] vs [{string.Join(", ", shape)}]"); continue; }
            specs.Add((new TensorSpec(AudioEncoderFactory.TowerPrefix + name, info.Shape, info.ScalarType), source));
        }
        var known = expected.Select(e => prefix + e.name).ToHashSet(StringComparer.Ordinal);
        var unexpected = weights.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && !known.Contains(n)
            && (prefix.Length > 0 || !IsWhisperNonEncoder(n))).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (missing.Count + wrongShape.Count + unexpected.Count > 0)
            throw new CheckpointMismatchException(directory, missing, unexpected, wrongShape);
        return specs;
    }

    // With an empty prefix (a bare encoder folder) nothing but the encoder should be there; tolerate a stray proj_out.
    static bool IsWhisperNonEncoder(string name) => name.StartsWith("proj_out.", StringComparison.Ordinal);

    static ScalarType ModelDType(JsonConfig config, JsonConfig textConfig, SafeTensorsCheckpoint weights)
    {
        var name = config.OptionalString("torch_dtype") ?? textConfig.OptionalString("torch_dtype");
        // An unknown name (e.g. "auto") falls back to what the weights are mostly stored in.
        return DTypes.TryParse(name) is { } named && name is "float32" or "float16" or "bfloat16" ? named : weights.PredominantFloatType();
    }

    /// <summary>Copies the model folder's files (subfolders are not model files and are skipped); returns the weight map of its tensors.</summary>
    static SortedDictionary<string, string> CopyModelFiles(string model, string output, List<string> skipped)
    {
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var indexPath = Path.Combine(model, SafeTensorsCheckpoint.IndexFileName);
        bool sharded = File.Exists(indexPath);
        if (sharded)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            foreach (var entry in doc.RootElement.GetProperty("weight_map").EnumerateObject())
                weightMap[entry.Name] = entry.Value.GetString()!;
        }
        foreach (var file in Directory.EnumerateFiles(model))
        {
            var name = Path.GetFileName(file);
            if (name is "config.json" or SafeTensorsCheckpoint.IndexFileName) continue;
            if (name is AudioWeightsFileName or AudioEncoderFactory.PreprocessorFileName)
                throw new CheckpointException(file, "the model folder already has this file; it cannot take an attached audio encoder.");
            if (!sharded && name == SafeTensorsCheckpoint.SingleFileName)
            {
                File.Copy(file, Path.Combine(output, BaseWeightsFileName));
                using var weights = SafeTensorsFile.Open(file);
                foreach (var tensor in weights.Tensors.Keys) weightMap[tensor] = BaseWeightsFileName;
                continue;
            }
            File.Copy(file, Path.Combine(output, name));
        }
        skipped.AddRange(Directory.EnumerateDirectories(model).Select(Path.GetFileName)!);
        return weightMap;
    }

    static void WriteIndex(string output, SortedDictionary<string, string> weightMap)
    {
        long total = 0;
        foreach (var file in weightMap.Values.Distinct())
        {
            using var f = SafeTensorsFile.Open(Path.Combine(output, file));
            total += f.Tensors.Values.Sum(t => t.End - t.Begin);
        }
        var index = new { metadata = new { total_size = total }, weight_map = weightMap };
        File.WriteAllText(Path.Combine(output, SafeTensorsCheckpoint.IndexFileName), JsonSerializer.Serialize(index, Indented) + "\n");
    }

    static JsonObject AudioConfigJson(WhisperEncoderConfig c, string projectorType, ScalarType dtype)
    {
        var config = WhisperConfigJson.Encoder(c, dtype);
        config["audio_projector_type"] = projectorType;
        config["audio_projector_hidden_act"] = "gelu";
        config["audio_pool"] = c.AveragePool;
        return config;
    }
}
