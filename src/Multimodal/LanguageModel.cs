using System.Runtime.CompilerServices;
using System.Threading.Channels;
using LlavaModal.Abstractions;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Llama;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal;

/// <summary>
/// A text model loaded from a Hugging Face folder (LLaMA architecture, SentencePiece or tokenizer.json):
/// tokenizer, chat template and decoder, with greedy or sampled generation, batching and streaming.
/// Safe to call from several threads: requests run one at a time.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    readonly SemaphoreSlim gate = new(1, 1);

    internal LanguageModel(string directory, LlamaForCausalLM model, HfTokenizer tokenizer, ChatTemplate template, GenerationDefaults defaults)
    {
        Directory = directory;
        Model = model;
        Tokenizer = tokenizer;
        ChatTemplate = template;
        Engine = new GenerationEngine(model, tokenizer, defaults.EosTokenIds, defaults.PadTokenId);
        EosTokenIds = defaults.EosTokenIds;
    }

    /// <summary>The model folder.</summary>
    public string Directory { get; }

    /// <summary>The folder's name, used as the model id.</summary>
    public string ModelId => Path.GetFileName(Path.TrimEndingDirectorySeparator(Directory));

    /// <summary>The decoder.</summary>
    public LlamaForCausalLM Model { get; }

    /// <summary>The tokenizer.</summary>
    public HfTokenizer Tokenizer { get; }

    /// <summary>The chat template used by <see cref="Chat"/>.</summary>
    public ChatTemplate ChatTemplate { get; }

    /// <summary>Ids that end generation.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    internal GenerationEngine Engine { get; }

    /// <summary>Loads config, weights, tokenizer and generation defaults from <paramref name="directory"/>.</summary>
    /// <exception cref="CheckpointException">A file is missing or malformed (the message names it).</exception>
    public static LanguageModel Load(string directory, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, "model folder not found.");
        var model = LlamaForCausalLM.FromPretrained(directory, options.DType, options.ResolveDevice());
        var tokenizer = HfTokenizer.FromPretrained(directory);
        var template = options.ChatTemplate is { } name ? ChatTemplate.Named(name) : ChatTemplate.ForModel(directory);
        var defaults = GenerationDefaults.Resolve(directory, model.Config.EosTokenIds, model.Config.PadTokenId, tokenizer.EosTokenId, tokenizer.PadTokenId);
        return new LanguageModel(directory, model, tokenizer, template, defaults);
    }

    /// <summary>Renders a conversation with the model's chat template.</summary>
    public string RenderChat(IReadOnlyList<ChatTurn> messages) => ChatTemplate.Render(messages);

    /// <summary>Generates a continuation of <paramref name="prompt"/>, tokenised verbatim (BOS added as the tokenizer config says).</summary>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        GenerateBatch([prompt], options, cancellation)[0];

    /// <summary>Answers the last user turn of a conversation, rendered through the chat template.</summary>
    public GenerationResult Chat(IReadOnlyList<ChatTurn> messages, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        Generate(RenderChat(messages), options, cancellation);

    /// <summary>Generates for several prompts at once (left padding and an attention mask); greedy results equal one-by-one generation.</summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<string> prompts, GenerationOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        return Run(prompts.Select(p => Tokenizer.Encode(p)).ToList(), options ?? new GenerationOptions(), cancellation, null);
    }

    /// <summary>Streams the continuation of <paramref name="prompt"/>; chunks never split a character, and the last one carries the full result.</summary>
    public IAsyncEnumerable<GenerationChunk> GenerateStreamingAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellation = default)
    {
        var ids = Tokenizer.Encode(prompt);
        return StreamAsync((onChunk, token) => Run([ids], options ?? new GenerationOptions(), token, onChunk)[0], cancellation);
    }

    /// <summary>
    /// Runs <paramref name="generate"/> on a worker thread and yields its chunks, then a last chunk carrying the result.
    /// A consumer that stops early cancels the generation.
    /// </summary>
    internal static async IAsyncEnumerable<GenerationChunk> StreamAsync(Func<Action<int, GenerationChunk>, CancellationToken, GenerationResult> generate, [EnumeratorCancellation] CancellationToken cancellation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var channel = Channel.CreateUnbounded<GenerationChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                var result = generate((_, chunk) => channel.Writer.TryWrite(chunk), stop.Token);
                channel.Writer.TryWrite(new GenerationChunk("", result.GeneratedIds.LastOrDefault(-1), result));
                channel.Writer.TryComplete();
            }
            catch (Exception e) { channel.Writer.TryComplete(e); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await foreach (var chunk in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                yield return chunk;
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await producer.ConfigureAwait(false);
        }
    }

    /// <summary>Logits [T, vocab] (float32) of a full forward pass over <paramref name="ids"/>.</summary>
    public Tensor PromptLogits(IReadOnlyList<int> ids) => Exclusive(() =>
    {
        using var scope = NewDisposeScope();
        return EmbeddingLogits(EmbedIds(ids)).MoveToOuterDisposeScope();
    });

    /// <summary>Logits [L, vocab] on the CPU of a full forward pass over input embeddings [L, hidden].</summary>
    internal Tensor EmbeddingLogits(Tensor embeddings)
    {
        using var scope = NewDisposeScope();
        var logits = Model.Forward(embeddings.unsqueeze(0), arange(embeddings.shape[0], device: Model.Device).unsqueeze(0));
        return logits.squeeze(0).cpu().MoveToOuterDisposeScope();
    }

    GenerationResult[] Run(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options, CancellationToken cancellation, Action<int, GenerationChunk>? onChunk)
    {
        foreach (var ids in prompts)
            if (ids.Count == 0) throw new ArgumentException("A prompt tokenised to no tokens; add text or enable the BOS token.");
        return RunExclusive(() => prompts.Select(ids => new PromptSequence(ids, EmbedIds(ids))).ToList(), options, cancellation, onChunk);
    }

    /// <summary>Text embeddings [T, hidden] of <paramref name="ids"/>.</summary>
    internal Tensor EmbedIds(IReadOnlyList<int> ids)
    {
        using var input = tensor(ids.Select(i => (long)i).ToArray(), device: Model.Device);
        return Model.Embed(input);
    }

    /// <summary>Builds the rows and generates, one request at a time, without gradients, releasing every temporary tensor.</summary>
    internal GenerationResult[] RunExclusive(Func<List<PromptSequence>> buildRows, GenerationOptions options, CancellationToken cancellation, Action<int, GenerationChunk>? onChunk)
    {
        gate.Wait(cancellation);
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            return Engine.Run(buildRows(), options, cancellation, onChunk);
        }
        finally { gate.Release(); }
    }

    /// <summary>Runs <paramref name="work"/> under the model's lock without gradients.</summary>
    internal T Exclusive<T>(Func<T> work)
    {
        gate.Wait();
        try
        {
            using var _ = no_grad();
            return work();
        }
        finally { gate.Release(); }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Model.Dispose();
        gate.Dispose();
    }
}
