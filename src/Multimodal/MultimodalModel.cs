using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Native;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Llama;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal;

/// <summary>A prompt with its media inputs, in the order their placeholders appear.</summary>
/// <param name="Text">Prompt text with placeholders (<c>&lt;image&gt;</c>).</param>
/// <param name="Inputs">One input per placeholder.</param>
public sealed record MultimodalPrompt(string Text, IReadOnlyList<ModalityInput> Inputs);

/// <summary>
/// A language model with any number of modality plugins: LLaVA (CLIP vision + projector + LLaMA), a text-only
/// model, or a model with audio or a user's own modality attached. Media embeddings are spliced where their
/// placeholders stand, in prompt order, then the shared decoder generates. Safe to call from several threads:
/// requests run one at a time.
/// </summary>
public sealed class MultimodalModel : IDisposable
{
    readonly PromptSplicer splicer;

    MultimodalModel(LanguageModel language, IReadOnlyList<ModalityBinding> modalities, IReadOnlyDictionary<int, ModalityBinding> byPlaceholderId)
    {
        Language = language;
        Modalities = modalities;
        PlaceholderIds = byPlaceholderId.ToDictionary(kv => kv.Value.Encoder.Modality, kv => kv.Key);
        splicer = new PromptSplicer(language, modalities, byPlaceholderId);
    }

    /// <summary>The decoder, tokenizer (with the placeholders as special tokens) and chat template.</summary>
    public LanguageModel Language { get; }

    /// <summary>The loaded plugins with their projectors.</summary>
    public IReadOnlyList<ModalityBinding> Modalities { get; }

    /// <summary>Token id of each modality's placeholder, by modality.</summary>
    public IReadOnlyDictionary<string, int> PlaceholderIds { get; }

    /// <summary>The folder's name, used as the model id.</summary>
    public string ModelId => Language.ModelId;

    /// <summary>
    /// Loads a model folder: the language model (top-level LLaMA, or the <c>text_config</c> of a LLaVA-style
    /// config with its <c>language_model</c> weights), then every plugin whose factory finds its modality in the folder.
    /// </summary>
    /// <exception cref="CheckpointException">A file, key or tensor is missing or malformed (named in the message).</exception>
    public static MultimodalModel Load(string directory, IEnumerable<IModalityEncoderFactory> factories, ModelLoadOptions? options = null, ILogger? logger = null)
    {
        options ??= new ModelLoadOptions();
        logger ??= NullLogger.Instance;
        if (!Directory.Exists(directory)) throw new CheckpointException(directory, "model folder not found.");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var configPath = Path.Combine(directory, "config.json");
        var config = JsonConfig.Load(configPath);
        var textConfig = config.Has("text_config") ? LlamaConfig.FromJson(config.Section("text_config")) : LlamaConfig.FromJson(config, requireArchitecture: true);
        var device = options.ResolveDevice();
        var dtype = options.DType ?? (config.Has("torch_dtype") ? LlamaConfig.ParseDType(config) : textConfig.TorchDType);

        var bindings = new List<ModalityBinding>();
        LlamaForCausalLM? decoder = null;
        try
        {
            using (var weights = SafeTensorsCheckpoint.Open(directory))
            {
                using (WeightInit.SkipRandomInit()) decoder = new LlamaForCausalLM(textConfig, dtype, device);
                var layout = DecoderWeightLayout.Detect(weights);
                decoder.LoadWeights(weights, layout.ToCheckpointName, layout.BelongsToDecoder);
                var context = new ModalityLoadContext(directory, config, weights, textConfig.HiddenSize, dtype, device, logger);
                foreach (var factory in factories)
                {
                    if (bindings.Any(b => b.Encoder.Modality == factory.Modality))
                        throw new InvalidOperationException($"Two plugins are registered for modality '{factory.Modality}'.");
                    if (factory.TryLoad(context) is { } binding) bindings.Add(binding);
                }
            }

            var tokenizer = HfTokenizer.FromPretrained(directory).WithPlaceholders(bindings.Select(b => b.Encoder.Placeholder));
            var byId = new Dictionary<int, ModalityBinding>();
            foreach (var binding in bindings)
            {
                int id = tokenizer.TokenToId(binding.Encoder.Placeholder)!.Value;
                if (binding.PlaceholderTokenId is int expected && expected != id)
                    throw new CheckpointException(configPath, $"the {binding.Encoder.Modality} placeholder {binding.Encoder.Placeholder} is token {id} in the tokenizer but {expected} in the config.");
                if (!byId.TryAdd(id, binding))
                    throw new InvalidOperationException($"Modalities '{byId[id].Encoder.Modality}' and '{binding.Encoder.Modality}' share the placeholder {binding.Encoder.Placeholder}.");
            }
            var template = options.ChatTemplate is { } name ? ChatTemplate.Named(name) : ChatTemplate.ForModel(directory);
            var defaults = GenerationDefaults.Resolve(directory, config.Has("text_config") ? (config.Has("eos_token_id") ? config.IntOrList("eos_token_id") : textConfig.EosTokenIds) : textConfig.EosTokenIds,
                config.OptionalInt("pad_token_id") ?? textConfig.PadTokenId, tokenizer.EosTokenId, tokenizer.PadTokenId);
            var language = new LanguageModel(directory, decoder, tokenizer, template, defaults);
            logger.LogInformation("Loaded {Model} ({Parameters:N0} decoder parameters, {DType}, {Device}) with {Modalities} in {Ms} ms",
                Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)), decoder.ParameterCount, dtype, device, bindings.Count == 0 ? "no media plugins" : string.Join(", ", bindings.Select(b => b.Encoder.Modality)), clock.ElapsedMilliseconds);
            return new MultimodalModel(language, bindings, byId);
        }
        catch
        {
            decoder?.Dispose();
            foreach (var b in bindings) b.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Renders a conversation through the chat template. When the conversation has no placeholder for a modality
    /// but inputs of it are given, one placeholder per input is put on its own line before the first user message's text, as LLaVA does.
    /// </summary>
    public MultimodalPrompt RenderChat(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ModalityInput>? inputs = null)
    {
        inputs ??= [];
        var list = messages.ToList();
        int firstUser = list.FindIndex(m => m.Role == TurnRole.User);
        var prefix = new System.Text.StringBuilder();
        foreach (var group in inputs.GroupBy(i => splicer.Route(i).Encoder))
        {
            if (list.Any(m => m.Content.Contains(group.Key.Placeholder, StringComparison.Ordinal))) continue;
            for (int i = 0; i < group.Count(); i++) prefix.Append(group.Key.Placeholder).Append('\n');
        }
        if (prefix.Length > 0)
        {
            if (firstUser < 0) throw new ArgumentException("Media inputs were given but the conversation has no user message to attach them to.", nameof(messages));
            list[firstUser] = list[firstUser] with { Content = prefix + list[firstUser].Content };
        }
        return new MultimodalPrompt(Language.RenderChat(list), inputs);
    }

    /// <summary>Answers a conversation with media (see <see cref="RenderChat"/>).</summary>
    public GenerationResult Chat(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ModalityInput>? inputs = null, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        Generate(RenderChat(messages, inputs), options, cancellation);

    /// <summary>Generates for a prompt whose placeholders are matched with <see cref="MultimodalPrompt.Inputs"/> in order.</summary>
    /// <exception cref="LlavaModalException">Placeholder and input counts differ, or an input cannot be read (named in the message).</exception>
    public GenerationResult Generate(MultimodalPrompt prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        GenerateBatch([prompt], options, cancellation)[0];

    /// <summary>Generates for several prompts at once (left padding); greedy results equal one-by-one generation.</summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<MultimodalPrompt> prompts, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        Run(prompts, options ?? new GenerationOptions(), cancellation, null);

    /// <summary>Streams the answer; chunks never split a character, and the last one carries the full result.</summary>
    public IAsyncEnumerable<GenerationChunk> GenerateStreamingAsync(MultimodalPrompt prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        LanguageModel.StreamAsync((onChunk, token) => Run([prompt], options ?? new GenerationOptions(), token, onChunk)[0], cancellation);

    /// <summary>Logits [positions, vocab] (float32, CPU) of a full forward pass over the spliced prompt, media positions included, and where each input went.</summary>
    public (Tensor Logits, IReadOnlyList<int> PromptIds, IReadOnlyList<MediaSpan> Spans) PromptLogits(MultimodalPrompt prompt) => Language.Exclusive(() =>
    {
        using var scope = NewDisposeScope();
        var spliced = splicer.Splice(prompt.Text, prompt.Inputs);
        return (Language.EmbeddingLogits(spliced.Embeddings).MoveToOuterDisposeScope(), spliced.Ids, spliced.Spans);
    });

    /// <summary>The decoder input [positions, hidden] of a prompt (for inspection and tests).</summary>
    internal Tensor InputsEmbeds(MultimodalPrompt prompt) => Language.Exclusive(() =>
    {
        using var scope = NewDisposeScope();
        return splicer.Splice(prompt.Text, prompt.Inputs).Embeddings.cpu().MoveToOuterDisposeScope();
    });

    GenerationResult[] Run(IReadOnlyList<MultimodalPrompt> prompts, GenerationOptions options, CancellationToken cancellation, Action<int, GenerationChunk>? onChunk) =>
        Language.RunExclusive(() => prompts.Select(p =>
        {
            var spliced = splicer.Splice(p.Text, p.Inputs);
            return new PromptSequence(spliced.Ids, spliced.Embeddings);
        }).ToList(), options, cancellation, onChunk);

    /// <inheritdoc />
    public void Dispose()
    {
        Language.Dispose();
        foreach (var b in Modalities) b.Dispose();
    }
}
