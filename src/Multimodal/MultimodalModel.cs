using System.Diagnostics;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal.DependencyInjection;
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
/// Safe to call from several threads: concurrent requests are decoded together (continuous batching); disposing waits
/// for the running ones.
/// </summary>
public sealed class MultimodalModel : IDisposable
{
    readonly PromptEncoder prompts;
    bool disposed;

    MultimodalModel(string directory, CausalLanguageModel decoder, HfTokenizer tokenizer, ChatTemplate template, GenerationDefaults defaults,
        IReadOnlyList<ModalityBinding> modalities, Dictionary<int, ModalityBinding> byPlaceholderId, ModelLimits limits, int maxBatch, long promptCacheBytes)
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
        Engine = new GenerationEngine(decoder, tokenizer, defaults.EosTokenIds, maxBatch, limits.ContextFor(decoder.Config), promptCacheBytes,
            limits.PrefillChunkTokens ?? GenerationEngine.DefaultPrefillChunkTokens);
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

    /// <summary>Requests decoding now (rows of the running batch).</summary>
    public int ActiveRequests => Engine.Active;

    /// <summary>Requests waiting for a free row of the batch.</summary>
    public int WaitingRequests => Engine.Waiting;

    /// <summary>The prompt cache's state now (all zero when it is off; see <see cref="ModelLoadOptions.PromptCacheBytes"/>).</summary>
    public PromptCacheStatistics PromptCache => Engine.PromptCache is { } c ? new(c.Count, c.Bytes, c.CapacityBytes, c.Hits, c.ReusedTokens) : new(0, 0, 0, 0, 0);

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
    public static MultimodalModel Load(string directory, IEnumerable<IModalityEncoderFactory>? factories = null, ModelLoadOptions? options = null, ILogger? logger = null) =>
        Load(directory, factories, options, logger, CancellationToken.None);

    /// <summary>
    /// <see cref="Load(string, IEnumerable{IModalityEncoderFactory}?, ModelLoadOptions?, ILogger?)"/> on a thread-pool thread,
    /// for callers that must not block (a host's start-up, a UI). Cancellation is observed between the loading stages
    /// (folder, decoder weights, plugins, tokenizer); whatever was built by then is released.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the model was complete.</exception>
    public static Task<MultimodalModel> LoadAsync(string directory, IEnumerable<IModalityEncoderFactory>? factories = null, ModelLoadOptions? options = null, ILogger? logger = null,
        CancellationToken cancellationToken = default) =>
        Task.Run(() => Load(directory, factories, options, logger, cancellationToken), cancellationToken);

    static MultimodalModel Load(string directory, IEnumerable<IModalityEncoderFactory>? factories, ModelLoadOptions? options, ILogger? logger, CancellationToken cancellation)
    {
        options ??= new ModelLoadOptions();
        if (options.MaxBatch < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxBatch, "ModelLoadOptions.MaxBatch must be 1 or more.");
        if (options.PromptCacheBytes < 0) throw new ArgumentOutOfRangeException(nameof(options), options.PromptCacheBytes, "ModelLoadOptions.PromptCacheBytes must be 0 (off) or more.");
        logger ??= NullLogger.Instance;
        var clock = Stopwatch.StartNew();
        using var folder = ModelFolder.Open(directory, options.Adapter);
        var catalog = options.Catalog;
        var (family, config) = folder.ReadDecoderConfig(catalog);
        var build = options.BuildContext(folder.ComputeDType(options.DType, config), folder.StoredWeightFormat());
        CausalLanguageModel? decoder = null;
        List<ModalityBinding> bindings = [];
        try
        {
            cancellation.ThrowIfCancellationRequested();
            decoder = folder.LoadDecoder(family, config, build);
            cancellation.ThrowIfCancellationRequested();
            bindings = folder.LoadModalities(factories ?? BuiltInArchitectures.Plugins(), config.HiddenSize, build, catalog, logger);
            cancellation.ThrowIfCancellationRequested();
            var tokenizer = folder.LoadTokenizer(bindings.Select(b => b.Encoder.Placeholder));
            var byId = PlaceholderIdsOf(bindings, tokenizer, folder);
            var template = folder.LoadChatTemplate(options.ChatTemplate);
            var defaults = folder.LoadGenerationDefaults(config, tokenizer);
            LlavaLog.ModelLoaded(logger, Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)), config.ModelType, decoder.ParameterCount, build.DType.ToString(),
                build.Device.ToString(), build.Attention.Name, bindings.Count == 0 ? "no media plugins" : string.Join(", ", bindings.Select(b => b.Modality)), clock.ElapsedMilliseconds);
            return new MultimodalModel(directory, decoder, tokenizer, template, defaults, bindings, byId, options.Limits, options.MaxBatch, options.PromptCacheBytes);
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
    /// no placeholder for a modality but inputs of it are given, one placeholder per input (its binding's
    /// <see cref="ModalityBinding.PromptText"/>) is put on its own line before the first user message's text, as LLaVA does.
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
            for (int i = 0; i < group.Count(); i++) prefix.Append(group.Key.PromptText).Append('\n');
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
        GenerateAsync(prompt, options, cancellation).GetAwaiter().GetResult();

    /// <summary>
    /// Generates for a prompt without blocking a thread: the request joins the running batch as soon as a row is free
    /// (see <see cref="ModelLoadOptions.MaxBatch"/>), so concurrent callers are decoded together.
    /// </summary>
    /// <exception cref="LlavaModalException">Placeholder and input counts differ, or an input cannot be read (named in the message).</exception>
    /// <exception cref="OperationCanceledException">Cancelled before the prompt was processed (after that, the result says <see cref="FinishReason.Cancelled"/>).</exception>
    public Task<GenerationResult> GenerateAsync(MultimodalPrompt prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        Submit(prompt, options ?? new GenerationOptions(), cancellation, null);

    /// <summary>
    /// Generates as <see cref="Generate(MultimodalPrompt, GenerationOptions, CancellationToken)"/>, telling
    /// <paramref name="prepared"/> the prompt's token budget once its inputs are prepared, before anything is encoded
    /// (each input is decoded and preprocessed once, for both).
    /// </summary>
    /// <exception cref="LlavaModalException">Placeholder and input counts differ, or an input cannot be read (named in the message).</exception>
    public GenerationResult Generate(MultimodalPrompt prompt, GenerationOptions? options, CancellationToken cancellation, Action<PromptLayout> prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        return Submit(prompt, options ?? new GenerationOptions(), cancellation, null, prepared).GetAwaiter().GetResult();
    }

    /// <summary>
    /// The positions a prompt takes in the decoder's sequence, in all and per media input, without encoding anything:
    /// the prompt is tokenised and its inputs decoded and preprocessed (so bad input fails here too), then released.
    /// </summary>
    /// <exception cref="LlavaModalException">Placeholder and input counts differ, or an input cannot be read (named in the message).</exception>
    /// <exception cref="InputLimitException">The prompt takes more positions than the context.</exception>
    public PromptLayout Layout(MultimodalPrompt prompt)
    {
        return Exclusive(() =>
        {
            using var prepared = prompts.Prepare(prompt, Budget(generating: false));
            return prepared.Layout();
        });
    }

    /// <summary>Generates for several prompts, decoded together up to <see cref="ModelLoadOptions.MaxBatch"/> at a time; results equal one-by-one generation.</summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<MultimodalPrompt> prompts, GenerationOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        options ??= new GenerationOptions();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var tasks = prompts.Select(p => Submit(p, options, stop.Token, null)).ToArray();
        try { return Task.WhenAll(tasks).GetAwaiter().GetResult(); }
        catch
        {
            // One prompt failed: the others are not wanted any more.
            stop.Cancel();
            try { Task.WaitAll(tasks); } catch (AggregateException) { }
            throw;
        }
    }

    /// <summary>Streams the answer; chunks never split a character, and the last one carries the full result.</summary>
    public IAsyncEnumerable<GenerationChunk> GenerateStreamingAsync(MultimodalPrompt prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        GenerationStream.StreamAsync((onChunk, token) => Submit(prompt, options ?? new GenerationOptions(), token, onChunk), cancellation);

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

    /// <summary>The position ids [axes, positions] (CPU) of a prompt, as the decoder receives them (for inspection and tests).</summary>
    internal Tensor PromptPositions(MultimodalPrompt prompt)
    {
        return Exclusive(() =>
        {
            using var prepared = prompts.Prepare(prompt, Budget(generating: false));
            using var scope = NewDisposeScope();
            return prompts.Embed(prepared).Positions.cpu().MoveToOuterDisposeScope();
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

    /// <summary>Queues a prompt; the engine prepares and embeds it on its worker (serialised with the model) when a row is free.</summary>
    /// <remarks>
    /// Preparing runs on the worker too: TorchSharp's implicit scalars are freed by finalizers, and a collection triggered
    /// by another thread decoding images could finalize one while a native operation still reads it.
    /// </remarks>
    Task<GenerationResult> Submit(MultimodalPrompt prompt, GenerationOptions options, CancellationToken cancellation, Action<GenerationChunk>? onChunk,
        Action<PromptLayout>? onPrepared = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return Engine.Submit(() =>
        {
            // A cancelled request stops its media work between plugin steps, so it frees the worker at once.
            var prepared = prompts.Prepare(prompt, Budget(generating: options.MaxNewTokens > 0), cancellation);
            try
            {
                onPrepared?.Invoke(prepared.Layout());
                var keys = Engine.PromptCache is null ? null : PromptEncoder.CacheKeys(prepared);
                return new PromptSequence(prepared.Ids, prepared.Positions, from => prompts.EmbedFrom(prepared, from, cancellation), prompts.Positions(prepared), prepared, keys);
            }
            catch
            {
                prepared.Dispose();
                throw;
            }
        }, options, cancellation, onChunk);
    }

    /// <summary>
    /// Runs a two-token answer to a short message, and a small synthetic image and audio clip through the loaded image
    /// and audio encoders, so that the first request does not pay for .NET compiling those code paths (on the toy model
    /// behind <c>serve</c>, a first chat request took 0.18 s without it, 0.05-0.06 s with it and 0.005-0.01 s after). Then
    /// empties the prompt cache, so requests find it
    /// as they would without the warm-up. Call it once after loading, before the first request;
    /// <see cref="LlavaModalOptions.WarmUp"/> does so for a model built by dependency injection, and <c>serve</c> does
    /// unless told not to.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public void WarmUp(CancellationToken cancellation = default) => ModelWarmUp.Run(this, cancellation);

    /// <summary>Empties the prompt cache and zeroes its counters, on the generation worker (which alone uses the cache).</summary>
    internal void ClearPromptCache() => Exclusive(() =>
    {
        Engine.PromptCache?.Clear();
        return 0;
    });

    /// <summary>Runs <paramref name="work"/> on the generation worker, between decode steps, without gradients.</summary>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    internal T Exclusive<T>(Func<T> work, CancellationToken cancellation = default) => Engine.Invoke(work, cancellation);

    /// <summary>
    /// Fails requests still waiting, lets running ones finish, then releases the decoder and the plugins; later requests
    /// fail with <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        lock (Engine)
        {
            if (disposed) return;
            disposed = true;
        }
        Engine.Dispose();
        Decoder.Dispose();
        foreach (var b in Modalities) b.Dispose();
    }
}
