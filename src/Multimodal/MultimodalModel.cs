using System.Diagnostics;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal.Loading;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal;

/// <summary>
/// A language model with any number of modality plugins: LLaVA (a vision tower + projector + decoder), a text-only
/// model, or a model with audio or a user's own modality attached. A prompt's inputs are routed to their plugins once,
/// prepared, embedded and spliced where their placeholders stand, in prompt order; then the decoder generates.
/// Safe to call from several threads: requests run one at a time; disposing waits for the running one.
/// </summary>
public sealed class MultimodalModel : IDisposable
{
    readonly SemaphoreSlim gate = new(1, 1);
    readonly PromptEncoder prompts;
    bool disposed;

    MultimodalModel(string directory, CausalLanguageModel decoder, HfTokenizer tokenizer, ChatTemplate template, GenerationDefaults defaults,
        IReadOnlyList<ModalityBinding> modalities, Dictionary<int, ModalityBinding> byPlaceholderId, ModelLimits limits)
    {
        Directory = directory;
        Limits = limits;
        Decoder = decoder;
        Tokenizer = tokenizer;
        ChatTemplate = template;
        EosTokenIds = defaults.EosTokenIds;
        Modalities = modalities;
        PlaceholderIds = byPlaceholderId.ToDictionary(kv => kv.Value.Modality, kv => kv.Key);
        Router = new ModalityRouter(modalities);
        Engine = new GenerationEngine(decoder, tokenizer, defaults.EosTokenIds, defaults.PadTokenId);
        prompts = new PromptEncoder(tokenizer, Router, byPlaceholderId, decoder);
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>The folder's name, used as the model id.</summary>
    public string ModelId => Path.GetFileName(Path.TrimEndingDirectorySeparator(Directory));

    /// <summary>The decoder (whichever family the config names).</summary>
    public CausalLanguageModel Decoder { get; }

    /// <summary>The tokenizer, with every plugin's placeholder as a special token.</summary>
    public HfTokenizer Tokenizer { get; }

    /// <summary>The chat template used by <see cref="RenderChat"/>.</summary>
    public ChatTemplate ChatTemplate { get; }

    /// <summary>Ids that end generation.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>The loaded plugins with their projectors.</summary>
    public IReadOnlyList<ModalityBinding> Modalities { get; }

    /// <summary>Token id of each modality's placeholder, by modality.</summary>
    public IReadOnlyDictionary<string, int> PlaceholderIds { get; }

    /// <summary>Decides which plugin takes an input (used where inputs enter: the chat services route with it).</summary>
    public ModalityRouter Router { get; }

    /// <summary>The token budget every request is checked against (from <see cref="ModelLoadOptions.Limits"/>).</summary>
    public ModelLimits Limits { get; }

    /// <summary>Most positions of a request (prompt and answer): <see cref="ModelLimits.ContextFor"/> of the decoder.</summary>
    public int ContextTokens => Limits.ContextFor(Decoder.Config);

    internal GenerationEngine Engine { get; }

    /// <summary>
    /// Loads a model folder: the decoder through the family its (text) config names, then every plugin whose factory
    /// finds its modality in the folder, the tokenizer (plugins' placeholders added), the chat template and the
    /// generation defaults.
    /// </summary>
    /// <param name="directory">Hugging Face model folder.</param>
    /// <param name="factories">Plugin factories (default: the built-in LLaVA image plugin).</param>
    /// <param name="options">Dtype, device, template, kernels and the registry of parts.</param>
    /// <param name="logger">Receives load notes.</param>
    /// <exception cref="CheckpointException">A file, key or tensor is missing or malformed (named in the message).</exception>
    public static MultimodalModel Load(string directory, IEnumerable<IModalityEncoderFactory>? factories = null, ModelLoadOptions? options = null, ILogger? logger = null)
    {
        options ??= new ModelLoadOptions();
        logger ??= NullLogger.Instance;
        var clock = Stopwatch.StartNew();
        using var folder = ModelFolder.Open(directory);
        var catalog = options.Catalog;
        var (family, config) = folder.ReadDecoderConfig(catalog);
        var build = options.BuildContext(folder.ComputeDType(options.DType, config));
        CausalLanguageModel? decoder = null;
        List<ModalityBinding> bindings = [];
        try
        {
            decoder = folder.LoadDecoder(family, config, build);
            bindings = folder.LoadModalities(factories ?? BuiltInArchitectures.Plugins(), config.HiddenSize, build, catalog, logger);
            var tokenizer = folder.LoadTokenizer(bindings.Select(b => b.Encoder.Placeholder));
            var byId = PlaceholderIdsOf(bindings, tokenizer, folder);
            var template = folder.LoadChatTemplate(options.ChatTemplate);
            var defaults = folder.LoadGenerationDefaults(config, tokenizer);
            logger.LogInformation("Loaded {Model} ({Family} decoder, {Parameters:N0} parameters, {DType}, {Device}, {Attention} attention) with {Modalities} in {Ms} ms",
                Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)), config.ModelType, decoder.ParameterCount, build.DType, build.Device, build.Attention.Name,
                bindings.Count == 0 ? "no media plugins" : string.Join(", ", bindings.Select(b => b.Modality)), clock.ElapsedMilliseconds);
            return new MultimodalModel(directory, decoder, tokenizer, template, defaults, bindings, byId, options.Limits);
        }
        catch
        {
            decoder?.Dispose();
            foreach (var b in bindings) b.Dispose();
            throw;
        }
    }

    /// <summary>Each plugin's placeholder id, checked against what the checkpoint's config says and for clashes.</summary>
    static Dictionary<int, ModalityBinding> PlaceholderIdsOf(IReadOnlyList<ModalityBinding> bindings, HfTokenizer tokenizer, ModelFolder folder)
    {
        var byId = new Dictionary<int, ModalityBinding>();
        foreach (var binding in bindings)
        {
            int id = tokenizer.TokenToId(binding.Encoder.Placeholder)!.Value;
            if (binding.PlaceholderTokenId is int expected && expected != id)
                throw new CheckpointException(Path.Combine(folder.Directory, "config.json"), $"the {binding.Modality} placeholder {binding.Encoder.Placeholder} is token {id} in the tokenizer but {expected} in the config.");
            if (!byId.TryAdd(id, binding))
                throw new InvalidOperationException($"Modalities '{byId[id].Modality}' and '{binding.Modality}' share the placeholder {binding.Encoder.Placeholder}.");
        }
        return byId;
    }

    /// <summary>
    /// Renders a conversation through the chat template and routes its inputs to their plugins. When the conversation has
    /// no placeholder for a modality but inputs of it are given, one placeholder per input is put on its own line before
    /// the first user message's text, as LLaVA does.
    /// </summary>
    /// <exception cref="LlavaModalException">An input no loaded plugin takes.</exception>
    public MultimodalPrompt RenderChat(IReadOnlyList<ChatTurn> turns, IReadOnlyList<ModalityInput>? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(turns);
        var routed = (inputs ?? []).Select(Router.Route).ToList();
        var list = turns.ToList();
        int firstUser = list.FindIndex(m => m.Role == TurnRole.User);
        var prefix = new System.Text.StringBuilder();
        foreach (var group in routed.GroupBy(r => r.Binding))
        {
            if (list.Any(m => m.Content.Contains(group.Key.Encoder.Placeholder, StringComparison.Ordinal))) continue;
            for (int i = 0; i < group.Count(); i++) prefix.Append(group.Key.Encoder.Placeholder).Append('\n');
        }
        if (prefix.Length > 0)
        {
            if (firstUser < 0) throw new ArgumentException("Media inputs were given but the conversation has no user message to attach them to.", nameof(turns));
            list[firstUser] = list[firstUser] with { Content = prefix + list[firstUser].Content };
        }
        return new MultimodalPrompt(ChatTemplate.Render(list), [.. routed.Select(r => r.Input)]);
    }

    /// <summary>Answers a conversation with media (see <see cref="RenderChat"/>).</summary>
    public GenerationResult Chat(IReadOnlyList<ChatTurn> turns, IReadOnlyList<ModalityInput>? inputs = null, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        Generate(RenderChat(turns, inputs), options, cancellation);

    /// <summary>Generates for a prompt whose placeholders are matched with <see cref="MultimodalPrompt.Inputs"/> in order.</summary>
    /// <exception cref="LlavaModalException">Placeholder and input counts differ, or an input cannot be read (named in the message).</exception>
    public GenerationResult Generate(MultimodalPrompt prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        Run([prompt], options ?? new GenerationOptions(), cancellation, null)[0];

    /// <summary>Generates for several prompts at once (left padding); greedy results equal one-by-one generation.</summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<MultimodalPrompt> prompts, GenerationOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        return Run(prompts, options ?? new GenerationOptions(), cancellation, null);
    }

    /// <summary>Streams the answer; chunks never split a character, and the last one carries the full result.</summary>
    public IAsyncEnumerable<GenerationChunk> GenerateStreamingAsync(MultimodalPrompt prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        GenerationStream.StreamAsync((onChunk, token) => Run([prompt], options ?? new GenerationOptions(), token, onChunk)[0], cancellation);

    /// <summary>Logits [positions, vocab] (float32, CPU) of a full forward pass over the spliced prompt, media positions included, and where each input went.</summary>
    public (Tensor Logits, IReadOnlyList<int> PromptIds, IReadOnlyList<MediaSpan> Spans) PromptLogits(MultimodalPrompt prompt)
    {
        return Exclusive(() =>
        {
            using var prepared = prompts.Prepare(prompt, Budget(generating: false));
            using var scope = NewDisposeScope();
            var (embeddings, positions) = prompts.Embed(prepared);
            return (Logits(embeddings, positions).MoveToOuterDisposeScope(), prepared.Ids, prepared.Spans());
        });
    }

    /// <summary>Logits [T, vocab] (float32, CPU) of a full forward pass over token ids (no media).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside the model's vocabulary (names its index and value).</exception>
    /// <exception cref="InputLimitException">More ids than the context holds.</exception>
    public Tensor PromptLogits(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0) throw new ArgumentException("No token ids given.", nameof(ids));
        int vocab = Decoder.Config.VocabSize;
        for (int i = 0; i < ids.Count; i++)
            if (ids[i] < 0 || ids[i] >= vocab)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"Token id at index {i} is {ids[i]}, outside the model's vocabulary [0, {vocab}).");
        var budget = Budget(generating: false);
        if (ids.Count > budget.MaxPositions) throw budget.Exceeded(ids.Count, $"{ids.Count} token ids");
        return Exclusive(() =>
        {
            using var scope = NewDisposeScope();
            using var input = tensor(ids.Select(i => (long)i).ToArray(), device: Decoder.Device);
            var positions = Decoder.PositionIds([new PromptSegment(ids.Count)]);
            return Logits(Decoder.Embed(input), positions).MoveToOuterDisposeScope();
        });
    }

    /// <summary>The decoder input [positions, hidden] of a prompt (for inspection and tests).</summary>
    internal Tensor InputsEmbeds(MultimodalPrompt prompt)
    {
        return Exclusive(() =>
        {
            using var prepared = prompts.Prepare(prompt, Budget(generating: false));
            using var scope = NewDisposeScope();
            return prompts.Embed(prepared).Embeddings.cpu().MoveToOuterDisposeScope();
        });
    }

    /// <summary>The positions a prompt may take: the context, less one for the first new token when generating.</summary>
    PromptBudget Budget(bool generating)
    {
        int context = ContextTokens;
        return new PromptBudget(generating ? context - 1 : context, context, Limits.Explain(Decoder.Config));
    }

    Tensor Logits(Tensor embeddings, Tensor positions)
    {
        // [axes, T] → [1, T] for one axis, [axes, 1, T] otherwise.
        var ids = (positions.shape[0] == 1 ? positions : positions.unsqueeze(1)).to(Decoder.Device);
        return Decoder.Forward(embeddings.unsqueeze(0), ids).squeeze(0).cpu();
    }

    /// <summary>Prepares, embeds and generates every prompt under the model's lock, without gradients, releasing every temporary tensor.</summary>
    /// <remarks>
    /// Preparing runs under the lock too: TorchSharp's implicit scalars are freed by finalizers, and a collection
    /// triggered by another thread decoding images can finalize one while a native operation of the running request still
    /// reads it (seen as "toFloat" errors under 32 concurrent requests when media were prepared outside the lock).
    /// </remarks>
    internal GenerationResult[] Run(IReadOnlyList<MultimodalPrompt> batch, GenerationOptions options, CancellationToken cancellation, Action<int, GenerationChunk>? onChunk)
    {
        options.Validate();
        gate.Wait(cancellation);
        var prepared = new List<PreparedPrompt>();
        try
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            var budget = Budget(generating: options.MaxNewTokens > 0);
            foreach (var prompt in batch) prepared.Add(prompts.Prepare(prompt, budget));
            // Generation stops when the context is full: max_new_tokens never sizes the KV cache past it (2^31 asked for > 6 GB).
            if (prepared.Count > 0) options = options with { MaxNewTokens = Math.Min(options.MaxNewTokens, budget.Context - prepared.Max(p => p.Positions)) };
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var rows = new List<PromptSequence>(prepared.Count);
            foreach (var p in prepared)
            {
                var (embeddings, positions) = prompts.Embed(p);
                rows.Add(new PromptSequence(p.Ids, embeddings, positions));
            }
            return Engine.Run(rows, options, cancellation, onChunk);
        }
        finally
        {
            foreach (var p in prepared) p.Dispose();
            gate.Release();
        }
    }

    /// <summary>Runs <paramref name="work"/> under the model's lock without gradients.</summary>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    internal T Exclusive<T>(Func<T> work, CancellationToken cancellation = default)
    {
        gate.Wait(cancellation);
        try
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            using var _ = no_grad();
            return work();
        }
        finally { gate.Release(); }
    }

    /// <summary>Waits for a running request to finish, then releases the decoder and the plugins; later requests fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        gate.Wait();
        try
        {
            if (disposed) return;
            disposed = true;
            Decoder.Dispose();
            foreach (var b in Modalities) b.Dispose();
        }
        finally { gate.Release(); }
    }
}
