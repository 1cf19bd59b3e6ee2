using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Architectures;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Adapters;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Native;
using LlavaModal.Core.Quantization;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal.Loading;

/// <summary>
/// The one place a Hugging Face model folder is opened: <c>config.json</c> and the weights once, then the decoder
/// (through the family its config names), the modality plugins, the tokenizer, the chat template and the generation
/// defaults. Used by <see cref="MultimodalModel"/>, <see cref="LanguageModel"/>, the CLI and training.
/// </summary>
public sealed class ModelFolder : IDisposable
{
    readonly SafeTensorsCheckpoint checkpoint;

    ModelFolder(string directory, JsonConfig config, SafeTensorsCheckpoint checkpoint, PeftAdapter? adapter, bool merge)
    {
        Directory = directory;
        Config = config;
        this.checkpoint = checkpoint;
        Adapter = adapter;
        Weights = adapter is null ? checkpoint : merge ? adapter.Merge(checkpoint) : adapter.Overlay(checkpoint);
        TextConfig = config.Has("text_config") ? config.Section("text_config") : config;
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>Its <c>config.json</c>.</summary>
    public JsonConfig Config { get; }

    /// <summary>The decoder's config: <c>text_config</c> of a multimodal config, else the top level.</summary>
    public JsonConfig TextConfig { get; }

    /// <summary>True when the decoder's config is nested (<c>text_config</c>), so absent keys take the family's defaults.</summary>
    public bool IsNested => !ReferenceEquals(TextConfig, Config);

    /// <summary>The weights (with the LoRA adapter merged in, when one was given), open until the folder is disposed.</summary>
    public IWeightSource Weights { get; }

    /// <summary>The LoRA adapter merged into <see cref="Weights"/>, or null.</summary>
    public PeftAdapter? Adapter { get; }

    /// <summary>
    /// Opens a model folder: reads <c>config.json</c> and opens (and validates) its weights. A PEFT LoRA adapter folder
    /// (<c>adapter_config.json</c>, no <c>config.json</c>) opens its base model (<c>base_model_name_or_path</c>, relative
    /// to the adapter folder when not absolute) with the adapter merged into the weights as they are read.
    /// </summary>
    /// <exception cref="CheckpointException">The folder, its config or its weights are missing or malformed (named in the message).</exception>
    /// <exception cref="LlavaModal.Core.Native.NativeRuntimeException">TorchSharp's native runtime cannot load (missing runtime package, libstdc++, cache).</exception>
    public static ModelFolder Open(string directory) => Open(directory, null, true);

    /// <summary>
    /// Opens a model folder with the LoRA adapter in <paramref name="adapterDirectory"/> (PEFT's layout; null: none, see
    /// <see cref="Open(string)"/>) merged into its weights, or with <paramref name="mergeAdapter"/> false, its matrices
    /// beside them under the model's names (<c>….q_proj.lora_A.weight</c>) for a model built with LoRA layers (training).
    /// </summary>
    /// <exception cref="CheckpointException">As <see cref="Open(string)"/>, or an adapter that does not fit the model (named).</exception>
    public static ModelFolder Open(string directory, string? adapterDirectory, bool mergeAdapter = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "model folder not found.");
        if (adapterDirectory is null && IsAdapterOnly(directory))
        {
            adapterDirectory = directory;
            directory = AdapterBase(directory);
        }
        // Before the first tensor: a missing runtime package or an unusable libstdc++ is named here, not by TorchSharp's generic message.
        LlavaModal.Core.Native.TorchNativeRuntime.ThrowIfUnavailable();
        var config = JsonConfig.Load(Path.Combine(directory, "config.json"));
        var checkpoint = SafeTensorsCheckpoint.Open(directory);
        PeftAdapter? adapter = null;
        try
        {
            adapter = adapterDirectory is null ? null : PeftAdapter.Open(adapterDirectory);
            return new ModelFolder(directory, config, checkpoint, adapter, mergeAdapter);
        }
        catch
        {
            adapter?.Dispose();
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>True when <paramref name="directory"/> is a LoRA adapter folder (<c>adapter_config.json</c>) and not a model (no <c>config.json</c>): it loads onto the base it names.</summary>
    public static bool IsAdapterOnly(string directory) =>
        PeftAdapter.IsAdapterFolder(directory) && !File.Exists(Path.Combine(directory, "config.json"));

    /// <summary>The base model folder an adapter folder names: <c>base_model_name_or_path</c>, relative to the adapter folder unless absolute.</summary>
    /// <exception cref="CheckpointException">The key is absent, or names no local model folder (a Hub id: download it and pass its folder as the base).</exception>
    public static string AdapterBase(string adapterDirectory)
    {
        var config = PeftAdapterConfig.Load(adapterDirectory);
        var path = Path.Combine(adapterDirectory, PeftAdapterConfig.FileName);
        if (config.BaseModel is not { Length: > 0 } name)
            throw new ConfigException(path, "base_model_name_or_path", "required to load the adapter on its own; give the base model's folder and the adapter separately instead.");
        var resolved = Path.IsPathRooted(name) ? name : Path.GetFullPath(Path.Combine(adapterDirectory, name));
        if (!File.Exists(Path.Combine(resolved, "config.json")))
            throw new ConfigException(path, "base_model_name_or_path", $"'{name}' is not a local model folder (no {Path.Combine(resolved, "config.json")}); give the base model's folder and the adapter separately (--model BASE --adapter DIR).");
        return resolved;
    }

    /// <summary>The decoder family the config names (<c>text_config.model_type</c>, or <c>model_type</c>; <c>llama</c> when absent, as LLaVA's default) and its parsed config.</summary>
    /// <exception cref="ConfigException">An unregistered <c>model_type</c> (the message lists the registered ones), a bad key, or a size the weights cannot hold (<see cref="ConfigBounds"/>).</exception>
    public (IDecoderFamily Family, IDecoderConfig Config) ReadDecoderConfig(IArchitectureCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var modelType = TextConfig.String("model_type", "llama");
        var family = catalog.FindDecoder(modelType)
            ?? throw TextConfig.Error("model_type", $"'{modelType}' is not a registered decoder family (registered: {string.Join(", ", catalog.DecoderTypes)}).");
        var config = family.ReadConfig(TextConfig, IsNested);
        // Before anything is built from them: sizes the weights cannot hold are refused here, naming the key.
        ConfigBounds.Check(TextConfig, Weights, new Dictionary<string, long>
        {
            ["vocab_size"] = config.VocabSize,
            ["hidden_size"] = config.HiddenSize,
            ["num_hidden_layers"] = config.NumHiddenLayers,
            ["num_key_value_heads"] = config.NumKeyValueHeads,
            ["head_dim"] = config.HeadDim,
        });
        return (family, config);
    }

    /// <summary>
    /// The weight format of a folder <c>llava-modal quantize</c> wrote (its config's <c>quantization_config</c>), or null
    /// for ordinary full-precision weights.
    /// </summary>
    /// <exception cref="ConfigException">A <c>llava-modal</c> quantization config whose format or block size this build does not read.</exception>
    public WeightFormat? StoredWeightFormat()
    {
        if (!Config.Has(PackedTensors.ConfigKey)) return null;
        var section = Config.Section(PackedTensors.ConfigKey);
        if (section.OptionalString("quant_method") != PackedTensors.Method) return null;
        var format = WeightFormats.Parse(section.String("format"));
        if (format is not (WeightFormat.Int8 or WeightFormat.Int4))
            throw section.Error("format", $"'{section.String("format")}' is not a stored weight format (int8 or int4).");
        if (section.Int("block_size", WeightFormats.BlockSize) != WeightFormats.BlockSize)
            throw section.Error("block_size", $"{section.Int("block_size")} is not supported (only {WeightFormats.BlockSize}).");
        return format;
    }

    /// <summary>The compute dtype: the requested one, else the config's <c>torch_dtype</c> (top level first, as llava-hf writes it).</summary>
    public ScalarType ComputeDType(ScalarType? requested, IDecoderConfig decoder)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        return requested ?? (Config.Has("torch_dtype") ? DTypes.FromConfig(Config) : decoder.TorchDType);
    }

    /// <summary>The decoder alone, through the family the config names, in the dtype, device and kernels <paramref name="options"/> ask for.</summary>
    public CausalLanguageModel LoadDecoder(ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        var (family, config) = ReadDecoderConfig(options.Catalog);
        return LoadDecoder(family, config, options.BuildContext(ComputeDType(options.DType, config), StoredWeightFormat()));
    }

    /// <summary>
    /// Builds the decoder without random initialisation and loads it strictly from the weights (every tensor of the
    /// decoder used, none missing, shapes checked; a stored <c>lm_head.weight</c> of a tied model ignored).
    /// </summary>
    public CausalLanguageModel LoadDecoder(IDecoderFamily family, IDecoderConfig config, ModelBuildContext build) => LoadDecoder(family, config, build, null);

    /// <param name="family">The decoder family.</param>
    /// <param name="config">Its config.</param>
    /// <param name="build">Dtype, device and layer factories.</param>
    /// <param name="constructed">Called between building the modules and reading the weights (benchmarks time the two apart).</param>
    internal CausalLanguageModel LoadDecoder(IDecoderFamily family, IDecoderConfig config, ModelBuildContext build, Action? constructed)
    {
        ArgumentNullException.ThrowIfNull(family);
        ArgumentNullException.ThrowIfNull(config);
        CausalLanguageModel decoder;
        using (WeightInit.SkipRandomInit()) decoder = family.Create(config, build);
        try
        {
            constructed?.Invoke();
            var layout = DecoderWeightLayout.Detect(Weights, family.ProbeTensor);
            // A tied checkpoint may still carry a copy of lm_head.weight; it is the same tensor, so it is not "unexpected".
            var tiedHead = layout.ToCheckpointName("lm_head.weight");
            StateDictLoader.Load(decoder, Weights, layout.ToCheckpointName,
                n => layout.BelongsToDecoder(n) && !(config.TieWordEmbeddings && n == tiedHead) && !IgnoredByFamily(family, layout, n));
            decoder.eval();
            HeapTrim.Run();
            return decoder;
        }
        catch
        {
            decoder.Dispose();
            throw;
        }
    }

    static bool IgnoredByFamily(IDecoderFamily family, DecoderWeightLayout layout, string name) =>
        name.StartsWith(layout.Name, StringComparison.Ordinal) && family.IgnoresTensor(name[layout.Name.Length..]);

    /// <summary>Asks every factory for its plugins (<see cref="IModalityEncoderFactory.LoadAll"/>); factories whose modality the folder does not carry return none.</summary>
    /// <exception cref="InvalidOperationException">Two factories for one modality.</exception>
    public List<ModalityBinding> LoadModalities(IEnumerable<IModalityEncoderFactory> factories, int decoderHiddenSize, ModelBuildContext build, IArchitectureCatalog catalog, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(factories);
        var bindings = new List<ModalityBinding>();
        try
        {
            // Packed weight formats are for the decoder; vision towers, projectors and audio encoders keep the model's
            // dtype, packed as it is so their many-token products run on the tiled kernels too.
            if (build.Linear is PackedLinearFactory packed) build = build with { Linear = packed.ForEncoders(build.DType) };
            var context = new ModalityLoadContext(Directory, Config, Weights, decoderHiddenSize, build, catalog, logger);
            foreach (var factory in factories)
            {
                if (bindings.Any(b => b.Modality == factory.Modality))
                    throw new InvalidOperationException($"Two plugins are registered for modality '{factory.Modality}'.");
                var loaded = factory.LoadAll(context);
                foreach (var binding in loaded)
                {
                    if (bindings.Any(b => b.Modality == binding.Modality))
                    {
                        foreach (var b in loaded) b.Dispose();
                        throw new InvalidOperationException($"Two plugins are registered for modality '{binding.Modality}'.");
                    }
                }
                bindings.AddRange(loaded);
            }
            if (bindings.Count > 0) HeapTrim.Run();
            return bindings;
        }
        catch
        {
            foreach (var b in bindings) b.Dispose();
            throw;
        }
    }

    /// <summary>The tokenizer, with each placeholder added as a special token when it lacks one.</summary>
    public HfTokenizer LoadTokenizer(IEnumerable<string> placeholders) => HfTokenizer.FromPretrained(Directory).WithPlaceholders(placeholders);

    /// <summary>The chat template: <paramref name="name"/> when given, else the one the folder declares.</summary>
    public ChatTemplate LoadChatTemplate(string? name) => name is not null ? ChatTemplate.Named(name) : ChatTemplate.ForModel(Directory);

    /// <summary>End-of-sequence and padding ids: <c>generation_config.json</c>, then the model config, then the tokenizer, as the reference's <c>generate</c>.</summary>
    internal GenerationDefaults LoadGenerationDefaults(IDecoderConfig decoder, HfTokenizer tokenizer)
    {
        var eos = IsNested && Config.Has("eos_token_id") ? Config.IntOrList("eos_token_id") : decoder.EosTokenIds;
        var pad = Config.OptionalInt("pad_token_id") ?? decoder.PadTokenId;
        if (decoder.BosTokenId is int bos && (bos < 0 || bos >= decoder.VocabSize))
            throw TextConfig.Error("bos_token_id", $"{bos} is outside the model's vocabulary [0, {decoder.VocabSize}).");
        return GenerationDefaults.Resolve(Directory, eos, pad, tokenizer.EosTokenId, tokenizer.PadTokenId, decoder.VocabSize);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Adapter?.Dispose();
        checkpoint.Dispose();
    }
}
