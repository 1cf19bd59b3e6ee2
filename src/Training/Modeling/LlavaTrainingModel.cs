using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Adapters;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Modules;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Tokenizers;
using LlavaModal.Training.Data;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Training.Modeling;

/// <summary>Which parts a training stage updates.</summary>
public enum TrainingStage
{
    /// <summary>LLaVA stage 1 (feature alignment): only the projector; vision tower and language model frozen.</summary>
    Stage1 = 1,
    /// <summary>LLaVA stage 2 (visual instruction tuning): projector and language model; vision tower frozen.</summary>
    Stage2 = 2,
}

/// <summary>
/// A LLaVA model held for training: the vision tower, the projector and the language model as separate modules (the
/// same classes inference uses, loaded through the same registry, so any registered decoder family or vision tower
/// trains), the tokenizer and the image processor. Loads and saves the
/// llava-hf folder layout (<c>vision_tower.*</c>, <c>multi_modal_projector.*</c>, <c>language_model.*</c>, a
/// <c>config.json</c> with <c>text_config</c> / <c>vision_config</c>, tokenizer and <c>preprocessor_config.json</c>),
/// so a saved folder loads with <c>MultimodalModel.Load</c>.
/// </summary>
public sealed class LlavaTrainingModel : IDisposable
{
    LlavaTrainingModel(VisionTower vision, ProjectorModule projector, CausalLanguageModel language, HfTokenizer tokenizer, IImageProcessor processor, string supportDirectory, string projectorActivation,
        IReadOnlyList<TrainableModality>? modalities = null, PluginFiles? pluginFiles = null)
    {
        Modalities = modalities ?? [];
        plugins = pluginFiles;
        Vision = vision;
        Projector = projector;
        Language = language;
        Tokenizer = tokenizer;
        Processor = processor;
        SupportDirectory = supportDirectory;
        ProjectorActivation = projectorActivation;
        ImageTokenId = tokenizer.TokenToId(LlavaDataFile.ImagePlaceholder)
            ?? throw new CheckpointException(supportDirectory, $"the tokenizer has no {LlavaDataFile.ImagePlaceholder} token; a LLaVA model needs one.");
    }

    /// <summary>The vision tower.</summary>
    public VisionTower Vision { get; }

    /// <summary>The other modalities' plugins (audio, custom ones), each with its projector.</summary>
    public IReadOnlyList<TrainableModality> Modalities { get; }

    /// <summary>What the plugins keep in the folder (encoder weights, config keys, extra files), carried through every save unchanged.</summary>
    readonly PluginFiles? plugins;

    /// <summary>The placeholder of each non-image modality (<c>audio</c> → <c>&lt;audio&gt;</c>).</summary>
    public IReadOnlyDictionary<string, string> Placeholders => Modalities.ToDictionary(m => m.Modality, m => m.Placeholder);

    /// <summary>Modality names this model can train: <c>image</c> and every plugin's.</summary>
    public IReadOnlyList<string> ModalityNames => ["image", .. Modalities.Select(m => m.Modality)];

    /// <summary>The projector (<c>multi_modal_projector</c>).</summary>
    public ProjectorModule Projector { get; }

    /// <summary>The language model.</summary>
    public CausalLanguageModel Language { get; }

    /// <summary>The tokenizer (with <c>&lt;image&gt;</c>).</summary>
    public HfTokenizer Tokenizer { get; }

    /// <summary>The image processor of the vision tower.</summary>
    public IImageProcessor Processor { get; }

    /// <summary>Folder the tokenizer and processor files are copied from when saving.</summary>
    public string SupportDirectory { get; }

    /// <summary>Projector activation name (<c>projector_hidden_act</c>).</summary>
    public string ProjectorActivation { get; }

    /// <summary>Id of <c>&lt;image&gt;</c>.</summary>
    public int ImageTokenId { get; }

    /// <summary>The LoRA adapters' settings when the language model has them (stage 2 trains them instead of its weights), else null.</summary>
    public LoraSettings? Lora { get; private init; }

    /// <summary>The folder the model was loaded from (an adapter's base), which a saved adapter names as its base model; null when built in memory.</summary>
    public string? BaseDirectory { get; private init; }

    /// <summary>True when the vision tower's parameters take gradients (only vision pretraining does this).</summary>
    public bool VisionTrainable => Vision.parameters().Any(p => p.requires_grad);

    /// <summary>
    /// Loads a LLaVA folder (float32). A folder without projector weights gets a freshly initialised projector when
    /// <paramref name="allowNewProjector"/> is set (stage 1 from assembled parts). <paramref name="plugins"/> are the
    /// factories of other modalities (image factories among them are skipped: the vision tower is loaded here); every
    /// one whose modality the folder carries is loaded for training, and what it keeps in the folder (its encoder's
    /// tensors, its <c>config.json</c> keys, files such as <c>audio_preprocessor_config.json</c>) is carried through
    /// every save unchanged.
    /// <para>
    /// With <paramref name="lora"/>, the language model's <see cref="LoraSettings.TargetModules"/> get LoRA adapters
    /// (A random, B zero: the model answers as before): stage 2 then trains the adapters and the projectors instead of the
    /// language model's weights, and <see cref="Save"/> writes a PEFT adapter folder. A PEFT adapter folder as
    /// <paramref name="directory"/> loads its base model with the adapter unmerged, to continue training it.
    /// </para>
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="lora"/> given for an adapter folder with other settings.</exception>
    public static LlavaTrainingModel Load(string directory, bool allowNewProjector = false, IEnumerable<IModalityEncoderFactory>? plugins = null, LoraSettings? lora = null)
    {
        string? adapterDirectory = null;
        if (ModelFolder.IsAdapterOnly(directory))
        {
            adapterDirectory = directory;
            var saved = PeftAdapterConfig.Load(directory).Lora;
            if (lora is not null && !(lora.Rank == saved.Rank && lora.Alpha == saved.Alpha && lora.UseRsLora == saved.UseRsLora && lora.TargetModules.SequenceEqual(saved.TargetModules)))
                throw new ArgumentException($"{directory} holds a LoRA adapter of rank {saved.Rank}, alpha {saved.Alpha} on {string.Join(", ", saved.TargetModules)}; it continues with those settings, not others.", nameof(lora));
            // The saved shape, with the caller's dropout (a training choice, not part of the adapter).
            lora = saved with { Dropout = lora?.Dropout ?? saved.Dropout };
            directory = ModelFolder.AdapterBase(directory);
        }
        using var folder = ModelFolder.Open(directory, adapterDirectory, mergeAdapter: false);
        var config = folder.Config;
        if (!config.Has("vision_config") || !config.Has("text_config"))
            throw new CheckpointException(Path.Combine(directory, "config.json"), "not a LLaVA config (needs text_config and vision_config).");
        var catalog = BuiltInArchitectures.Catalog;
        var build = Float32Build();
        var (family, textConfig) = folder.ReadDecoderConfig(catalog);
        var language = folder.LoadDecoder(family, textConfig, lora is null ? build : build with { Linear = new LoraLinearFactory(lora) });
        if (lora is not null && lora.TargetModules.FirstOrDefault(t => !language.named_parameters().Any(p => p.name.EndsWith($".{t}.lora_A.weight", StringComparison.Ordinal))) is { } unmatched)
        {
            language.Dispose();
            throw new ArgumentException($"LoRA target '{unmatched}' is no linear layer of the {textConfig.ModelType} language model (its layers: {string.Join(", ", LoraSettings.AllProjections)}).", nameof(lora));
        }
        var vision = LlavaVisionTower.Load(config, folder.Weights, catalog, build);
        var activation = config.String("projector_hidden_act", "gelu");
        var projector = Projectors.Create(config.String("projector_type", "mlp2x_gelu"), vision.OutputWidth, textConfig.HiddenSize, activation);
        if (folder.Weights.Find(LlavaVisionFactory.ProjectorPrefix, "linear_1.weight") is { } prefix) StateDictLoader.Load(projector, folder.Weights, prefix);
        else if (!allowNewProjector) throw new CheckpointException(directory, $"no projector weights ({LlavaVisionFactory.ProjectorPrefix}*) in the checkpoint.");
        var bindings = folder.LoadModalities((plugins ?? []).Where(f => f.Modality != "image"), textConfig.HiddenSize, build, catalog, NullLogger.Instance);
        try
        {
            var tokenizer = folder.LoadTokenizer(bindings.Select(b => b.Encoder.Placeholder));
            var modalities = bindings.Select(b => new TrainableModality(b, tokenizer.TokenToId(b.Encoder.Placeholder)!.Value)).ToList();
            var carried = modalities.Count == 0 ? null : PluginFiles.Read(folder, modalities.Select(m => m.Modality));
            return new LlavaTrainingModel(vision, projector, language, tokenizer, ImageProcessors.FromDirectory(directory), directory, activation, modalities, carried)
            {
                Lora = lora,
                BaseDirectory = Path.GetFullPath(directory),
            };
        }
        catch
        {
            foreach (var b in bindings) b.Dispose();
            throw;
        }
    }

    /// <summary>Float32 on the CPU with TorchSharp layers and the eager attention: training's arithmetic.</summary>
    static ModelBuildContext Float32Build() => new(ScalarType.Float32, CPU, TorchLinearFactory.Instance, new EagerAttention());

    /// <summary>
    /// Assembles a LLaVA model from a pretrained vision folder (a <c>CLIPVisionModel</c> or any registered tower, with its
    /// <c>preprocessor_config.json</c>) and a pretrained language model folder (any registered decoder family, with a
    /// tokenizer that has <c>&lt;image&gt;</c>), with a new projector: the start of stage 1.
    /// </summary>
    public static LlavaTrainingModel FromParts(string visionDirectory, string languageDirectory, FeatureSelection? selection = null, string projectorType = "mlp2x_gelu", long seed = 0)
    {
        var catalog = BuiltInArchitectures.Catalog;
        var build = Float32Build();
        VisionTower vision;
        using (var folder = ModelFolder.Open(visionDirectory)) vision = LlavaVisionTower.Load(folder.Config, folder.Weights, catalog, build, selection);
        CausalLanguageModel language;
        using (var folder = ModelFolder.Open(languageDirectory))
        {
            var (family, config) = folder.ReadDecoderConfig(catalog);
            language = folder.LoadDecoder(family, config, build);
        }
        manual_seed(seed);
        var projector = Projectors.Create(projectorType, vision.OutputWidth, language.Config.HiddenSize);
        var tokenizer = HfTokenizer.FromPretrained(languageDirectory);
        var support = Path.Combine(Path.GetTempPath(), "llavamodal-parts-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(support);
        HfFolders.CopySupportFiles(languageDirectory, support);
        File.Copy(Path.Combine(visionDirectory, "preprocessor_config.json"), Path.Combine(support, "preprocessor_config.json"), true);
        return new LlavaTrainingModel(vision, projector, language, tokenizer, ImageProcessors.FromDirectory(visionDirectory), support, "gelu");
    }

    /// <summary>
    /// Creates a randomly initialised LLaVA model with the shipped tokenizer (vocabulary 512 with <c>&lt;image&gt;</c>)
    /// and a CLIP image processor for <see cref="ClipVisionConfig.ImageSize"/>: for tests and from-scratch experiments.
    /// </summary>
    public static LlavaTrainingModel Create(ClipVisionConfig visionConfig, IDecoderConfig textConfig, FeatureSelection? selection = null, string projectorType = "mlp2x_gelu", long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(textConfig);
        manual_seed(seed);
        var vision = new ClipVisionModel(visionConfig, selection);
        var family = BuiltInArchitectures.Catalog.FindDecoder(textConfig.ModelType)
            ?? throw new ArgumentException($"'{textConfig.ModelType}' is not a registered decoder family.", nameof(textConfig));
        var language = family.Create(textConfig, Float32Build());
        var projector = Projectors.Create(projectorType, vision.OutputWidth, textConfig.HiddenSize);
        var support = Path.Combine(Path.GetTempPath(), "llavamodal-parts-" + Guid.NewGuid().ToString("N"));
        HfFolders.WriteTokenizer(support);
        HfFolders.WritePreprocessorConfig(support, visionConfig.ImageSize);
        HfFolders.WriteGenerationConfig(support);
        return new LlavaTrainingModel(vision, projector, language, HfTokenizer.FromPretrained(support), ImageProcessors.FromDirectory(support), support, "gelu");
    }

    /// <summary>
    /// Sets which parameters take gradients: the encoders never (LLaVA keeps them frozen in both stages), the language
    /// model in stage 2 only, the projectors of <paramref name="modalities"/> (default: all) always, other projectors never.
    /// </summary>
    /// <exception cref="ArgumentException">A modality the model has no plugin for.</exception>
    public void SetStage(TrainingStage stage, IReadOnlyCollection<string>? modalities = null)
    {
        var unknown = (modalities ?? []).Where(m => !ModalityNames.Contains(m)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"the model has no plugin for modality '{unknown[0]}' (it has: {string.Join(", ", ModalityNames)}).", nameof(modalities));
        bool Chosen(string m) => modalities is null || modalities.Contains(m);
        SetTrainable(Vision, false);
        SetTrainable(Projector, Chosen("image"));
        foreach (var m in Modalities) SetTrainable(m.Projector, Chosen(m.Modality));
        SetTrainable(Language, stage == TrainingStage.Stage2 && Lora is null);
        // LoRA: the base weights stay frozen; stage 2 trains the adapters.
        if (Lora is not null)
            foreach (var (name, p) in Language.named_parameters())
                if (IsAdapterParameter(name)) p.requires_grad = stage == TrainingStage.Stage2;
    }

    static bool IsAdapterParameter(string name) => name.EndsWith(".lora_A.weight", StringComparison.Ordinal) || name.EndsWith(".lora_B.weight", StringComparison.Ordinal);

    /// <summary>Switches the language model between training (LoRA dropout on) and evaluation behaviour.</summary>
    public void SetTraining(bool training) => Language.train(training);

    internal static void SetTrainable(nn.Module module, bool trainable)
    {
        foreach (var p in module.parameters()) p.requires_grad = trainable;
    }

    /// <summary>The parameters that take gradients, with their checkpoint names.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters() =>
        NamedParameters().Where(p => p.Parameter.requires_grad).ToList();

    /// <summary>All parameters with their llava-hf checkpoint names.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters() =>
        Vision.named_parameters().Select(p => ("vision_tower." + p.name, p.parameter))
            .Concat(Projector.named_parameters().Select(p => ("multi_modal_projector." + p.name, p.parameter)))
            .Concat(Modalities.SelectMany(m => m.Projector.named_parameters().Select(p => (m.ProjectorPrefix + p.name, p.parameter))))
            .Concat(Language.named_parameters().Select(p => ("language_model." + p.name, p.parameter)));

    /// <summary>
    /// Summed token cross-entropy of a batch and the number of supervised tokens: images are encoded (through the
    /// frozen tower without autograd), projected, and spliced where each sample's <c>&lt;image&gt;</c> stands; sequences
    /// are right-padded with an attention mask; labels are shifted by one as in causal LM training.
    /// </summary>
    /// <param name="samples">Encoded samples.</param>
    /// <param name="pixels">[images, 3, H, W] for the samples that have an image, in order, or null.</param>
    public (Tensor LossSum, long Tokens) Loss(IReadOnlyList<EncodedSample> samples, Tensor? pixels)
    {
        using var scope = NewDisposeScope();
        var (embeds, labels, padding) = Inputs(samples, pixels);
        long b = embeds.shape[0], t = embeds.shape[1];
        var positions = Scalars.Arange(0, t).unsqueeze(0).expand(b, t);
        var logits = Language.Forward(embeds, positions, padding);
        var shiftedLogits = logits.narrow(1, 0, t - 1).reshape(-1, logits.shape[2]);
        var shiftedLabels = labels.narrow(1, 1, t - 1).reshape(-1);
        long tokens = Scalars.With((long)ConversationEncoder.IgnoreIndex, s => shiftedLabels.ne(s)).sum().item<long>();
        var loss = nn.functional.cross_entropy(shiftedLogits, shiftedLabels, ignore_index: ConversationEncoder.IgnoreIndex, reduction: nn.Reduction.Sum);
        return (loss.MoveToOuterDisposeScope(), tokens);
    }

    /// <summary>The decoder inputs of a batch: embeddings [B, T, hidden], labels [B, T] and the padding mask [B, T] (null when nothing is padded).</summary>
    internal (Tensor Embeds, Tensor Labels, Tensor? Padding) Inputs(IReadOnlyList<EncodedSample> samples, Tensor? pixels)
    {
        using var scope = NewDisposeScope();
        int withImage = samples.Count(s => s.ImagePath is not null && s.Ids.Contains(ImageTokenId));
        Tensor? features = null;
        if (withImage > 0)
        {
            if (pixels is null || pixels.shape[0] != withImage)
                throw new ArgumentException($"{withImage} samples have an image but {(pixels is null ? 0 : pixels.shape[0])} images were given.", nameof(pixels));
            Tensor f;
            if (VisionTrainable) f = Vision.Features(pixels);
            else using (no_grad()) f = Vision.Features(pixels);
            features = Projector.forward(f);
        }
        var byId = Modalities.ToDictionary(m => m.PlaceholderTokenId);
        var rows = new List<(Tensor Embeds, long[] Labels)>();
        int next = 0;
        foreach (var s in samples)
        {
            // Placeholder ids are never embedded (an added placeholder may have no row); their positions take the media's features.
            var ids = s.Ids.Select(i => i == ImageTokenId || byId.ContainsKey(i) ? 0L : i).ToArray();
            var text = Language.Embed(tensor(ids).unsqueeze(0)).squeeze(0);
            var pieces = new List<Tensor>();
            var labels = new List<long>();
            int from = 0, media = 0;
            bool imageUsed = false;
            for (int i = 0; i < s.Ids.Length; i++)
            {
                Tensor? spliced = null;
                if (s.Ids[i] == ImageTokenId && s.ImagePath is not null && !imageUsed)
                {
                    spliced = features!.select(0, next++);
                    imageUsed = true;
                }
                else if (byId.TryGetValue(s.Ids[i], out var modality))
                {
                    var input = s.Media[media++];
                    if (input.Modality != modality.Modality)
                        throw new ArgumentException($"sample '{s.Id}': placeholder {modality.Placeholder} at position {i} but its next input is {input.Modality}.", nameof(samples));
                    using var f = modality.Features(input.Path);
                    spliced = modality.Projector.forward(f);
                }
                if (spliced is null) continue;
                if (i > from) pieces.Add(text.narrow(0, from, i - from));
                labels.AddRange(s.Labels[from..i].Select(l => (long)l));
                pieces.Add(spliced);
                labels.AddRange(Enumerable.Repeat((long)ConversationEncoder.IgnoreIndex, (int)spliced.shape[0]));
                from = i + 1;
            }
            if (from < ids.Length) pieces.Add(text.narrow(0, from, ids.Length - from));
            labels.AddRange(s.Labels[from..].Select(l => (long)l));
            rows.Add((pieces.Count == 1 ? pieces[0] : cat(pieces, 0), labels.ToArray()));
        }
        long t = rows.Max(r => r.Embeds.shape[0]);
        long hidden = Language.Config.HiddenSize;
        bool padded = rows.Any(r => r.Embeds.shape[0] < t);
        var embeds = stack(rows.Select(r => r.Embeds.shape[0] == t ? r.Embeds : cat([r.Embeds, zeros(t - r.Embeds.shape[0], hidden)], 0)), 0);
        var labelRows = rows.Select(r => r.Labels.Concat(Enumerable.Repeat((long)ConversationEncoder.IgnoreIndex, (int)(t - r.Labels.Length)))).SelectMany(x => x).ToArray();
        var labelTensor = tensor(labelRows).view(rows.Count, t);
        Tensor? padding = null;
        if (padded)
            padding = tensor(rows.SelectMany(r => Enumerable.Range(0, (int)t).Select(i => i < r.Embeds.shape[0] ? 1L : 0L)).ToArray()).view(rows.Count, t).MoveToOuterDisposeScope();
        return (embeds.MoveToOuterDisposeScope(), labelTensor.MoveToOuterDisposeScope(), padding);
    }

    /// <summary>
    /// Mean L2 norm of the language model's token embeddings (rows of the embedding table) and of the projected image
    /// tokens of <paramref name="imagePaths"/>: the two must be on a comparable scale for the language model to use the image.
    /// </summary>
    public (double Text, double Image) EmbeddingNorms(IReadOnlyList<string> imagePaths)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ids = Scalars.Arange(0, Language.Config.VocabSize).unsqueeze(0);
        double text = Language.Embed(ids).PowScalar(2).sum(-1).sqrt().mean().item<float>();
        var loader = new ImageLoader();
        var pixels = cat(imagePaths.Select(p => Processor.Preprocess(loader.LoadFile(p), p).ToTensor()).ToList(), 0);
        double image = Projector.forward(Vision.Features(pixels)).PowScalar(2).sum(-1).sqrt().mean().item<float>();
        return (text, image);
    }

    /// <summary>
    /// Scales the projector's last layer so that projected image tokens of <paramref name="imagePaths"/> have the mean
    /// norm of the token embeddings (a data-dependent initialisation for a new projector); returns the factor applied.
    /// </summary>
    public double MatchProjectorScale(IReadOnlyList<string> imagePaths)
    {
        var (text, image) = EmbeddingNorms(imagePaths);
        return ScaleLastLayer(Projector, text / image);
    }

    /// <summary>
    /// <see cref="MatchProjectorScale(IReadOnlyList{string})"/> for another modality's projector, measured on the frozen
    /// encoder's features of <paramref name="files"/>; returns the factor applied.
    /// </summary>
    /// <exception cref="ArgumentException">The model has no plugin for <paramref name="modality"/>.</exception>
    public double MatchProjectorScale(string modality, IReadOnlyList<string> files)
    {
        var m = Modalities.FirstOrDefault(x => x.Modality == modality)
            ?? throw new ArgumentException($"the model has no plugin for modality '{modality}' (it has: {string.Join(", ", ModalityNames)}).", nameof(modality));
        double text, projected;
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            text = Language.Embed(Scalars.Arange(0, Language.Config.VocabSize).unsqueeze(0)).PowScalar(2).sum(-1).sqrt().mean().item<float>();
            projected = cat(files.Select(f => m.Projector.forward(m.Features(f))).ToList(), 0).PowScalar(2).sum(-1).sqrt().mean().item<float>();
        }
        return ScaleLastLayer(m.Projector, text / projected);
    }

    static double ScaleLastLayer(ProjectorModule projector, double factor)
    {
        var last = projector.named_parameters().Select(p => p.name.Split('.')[0]).Where(n => n.StartsWith("linear_", StringComparison.Ordinal)).Max(n => int.Parse(n["linear_".Length..], System.Globalization.CultureInfo.InvariantCulture));
        using var _ = no_grad();
        foreach (var (name, p) in projector.named_parameters())
            if (name.StartsWith($"linear_{last}.", StringComparison.Ordinal)) Scalars.With(factor, s => p.mul_(s));
        return factor;
    }

    /// <summary>Reads and preprocesses the images of <paramref name="samples"/> (those that have one) into [n, 3, H, W], or null.</summary>
    public Tensor? LoadPixels(IReadOnlyList<EncodedSample> samples, ImageLoader? loader = null)
    {
        loader ??= new ImageLoader();
        var images = samples.Where(s => s.ImagePath is not null).Select(s => Processor.Preprocess(loader.LoadFile(s.ImagePath!), s.ImagePath!).ToTensor()).ToList();
        if (images.Count == 0) return null;
        var result = cat(images, 0);
        foreach (var i in images) i.Dispose();
        return result;
    }

    /// <summary>
    /// Saves the model as a llava-hf folder: <c>model.safetensors</c> (weights in <paramref name="dtype"/>), <c>config.json</c>,
    /// the tokenizer, <c>preprocessor_config.json</c> and <c>generation_config.json</c>.
    /// </summary>
    public void Save(string directory, ScalarType dtype = ScalarType.Float32)
    {
        if (Lora is not null)
        {
            SaveAdapter(directory, dtype);
            return;
        }
        Directory.CreateDirectory(directory);
        var named = NamedParameters().ToList();
        var specs = named.Select(p => new TensorSpec(p.Name, p.Parameter.shape, dtype)).ToList();
        var byName = named.ToDictionary(p => p.Name, p => (Tensor)p.Parameter);
        // The plugins' encoders are frozen: their tensors are written as they were read, in their stored dtype.
        foreach (var (name, t) in plugins?.Tensors ?? new Dictionary<string, Tensor>())
        {
            specs.Add(new TensorSpec(name, t.shape, t.dtype));
            byName[name] = t;
        }
        SafeTensorsWriter.WriteCheckpoint(directory, specs, spec => byName[spec.Name].detach().to(spec.Type));
        var c = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "LlavaForConditionalGeneration" },
            ["ignore_index"] = ConversationEncoder.IgnoreIndex,
            ["image_token_index"] = ImageTokenId,
            ["model_type"] = "llava",
            ["pad_token_id"] = Tokenizer.PadTokenId ?? HfFolders.PadTokenId,
            ["projector_hidden_act"] = ProjectorActivation,
            ["projector_type"] = Projector.Type,
            ["text_config"] = HfFolders.DecoderConfigJson(Language.Config, dtype, Tokenizer.PadTokenId ?? HfFolders.PadTokenId, topLevel: false),
            ["tie_word_embeddings"] = Language.Config.TieWordEmbeddings,
            ["torch_dtype"] = DTypes.ConfigName(dtype),
            ["vision_config"] = Vision.ToJsonObject(),
            ["image_seq_length"] = Vision.TokenCount,
        };
        foreach (var (key, value) in LlavaFeatureSelection.ToJsonObject(Vision.Selection)) c[key] = value;
        if (plugins is not null)
        {
            foreach (var (key, value) in plugins.Config)
                if (!c.ContainsKey(key)) c[key] = value?.DeepClone();
            foreach (var (name, bytes) in plugins.Files) File.WriteAllBytes(Path.Combine(directory, name), bytes);
        }
        HfFolders.WriteJson(Path.Combine(directory, "config.json"), c);
        HfFolders.CopySupportFiles(SupportDirectory, directory);
        if (!File.Exists(Path.Combine(directory, "generation_config.json"))) HfFolders.WriteGenerationConfig(directory, Tokenizer.PadTokenId ?? HfFolders.PadTokenId);
    }

    /// <summary>
    /// Saves the LoRA adapters in PEFT's layout: <c>adapter_config.json</c> (naming <see cref="BaseDirectory"/> as the base
    /// model) and <c>adapter_model.safetensors</c> with every <c>lora_A</c> / <c>lora_B</c> and, as <c>modules_to_save</c>,
    /// every projector (stage 1 and 2 train them). Loads with <c>MultimodalModel.Load</c> (the folder itself, or the base
    /// with <c>ModelLoadOptions.Adapter</c>), and merges into a full folder with <c>llava-modal merge-lora</c>.
    /// </summary>
    void SaveAdapter(string directory, ScalarType dtype)
    {
        var named = NamedParameters().ToList();
        var projectors = new List<string> { LlavaVisionFactory.ProjectorPrefix.TrimEnd('.') };
        projectors.AddRange(Modalities.Select(m => m.ProjectorPrefix.TrimEnd('.')));
        var tensors = named.Where(p => IsAdapterParameter(p.Name) || projectors.Any(m => p.Name.StartsWith(m + ".", StringComparison.Ordinal)))
            .Select(p => (p.Name, (Tensor)p.Parameter));
        var config = new PeftAdapterConfig { Lora = Lora!, BaseModel = BaseDirectory, ModulesToSave = projectors };
        PeftAdapter.Save(directory, config, tensors, dtype);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var m in Modalities) m.Dispose();
        plugins?.Dispose();
        Vision.Dispose();
        Projector.Dispose();
        Language.Dispose();
    }
}
