using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal;

/// <summary>
/// A text model loaded from a Hugging Face folder (any registered decoder family; SentencePiece or tokenizer.json):
/// the text-only face of <see cref="MultimodalModel"/>, with greedy or sampled generation, batching and streaming.
/// Safe to call from several threads: concurrent requests are decoded together.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    readonly MultimodalModel model;

    LanguageModel(MultimodalModel model) => this.model = model;

    /// <summary>The model folder.</summary>
    public string Directory => model.Directory;

    /// <summary>The folder's name, used as the model id.</summary>
    public string ModelId => model.ModelId;

    /// <summary>The decoder.</summary>
    public CausalLanguageModel Decoder => model.Decoder;

    /// <summary>The tokenizer.</summary>
    public HfTokenizer Tokenizer => model.Tokenizer;

    /// <summary>The chat template used by <see cref="Chat"/>.</summary>
    public ChatTemplate ChatTemplate => model.ChatTemplate;

    /// <summary>Ids that end generation.</summary>
    public IReadOnlyList<int> EosTokenIds => model.EosTokenIds;

    internal GenerationEngine Engine => model.Engine;

    /// <summary>Loads config, weights, tokenizer and generation defaults from <paramref name="directory"/> (a text model, or the decoder of a multimodal one).</summary>
    /// <exception cref="CheckpointException">A file is missing or malformed (the message names it).</exception>
    public static LanguageModel Load(string directory, ModelLoadOptions? options = null) => new(MultimodalModel.Load(directory, [], options));

    /// <summary>Renders a conversation with the model's chat template.</summary>
    public string RenderChat(IReadOnlyList<ChatTurn> turns) => model.RenderChat(turns).Text;

    /// <summary>Generates a continuation of <paramref name="prompt"/>, tokenised verbatim (BOS added as the tokenizer config says).</summary>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        GenerateBatch([prompt], options, cancellation)[0];

    /// <summary>Answers the last user turn of a conversation, rendered through the chat template.</summary>
    public GenerationResult Chat(IReadOnlyList<ChatTurn> turns, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        Generate(RenderChat(turns), options, cancellation);

    /// <summary>Generates a continuation without blocking a thread; concurrent calls are decoded together.</summary>
    public Task<GenerationResult> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        model.GenerateAsync(Text(prompt), options, cancellation);

    /// <summary>Generates for several prompts, decoded together; results equal one-by-one generation.</summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<string> prompts, GenerationOptions? options = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        return model.GenerateBatch([.. prompts.Select(Text)], options, cancellation);
    }

    /// <summary>Streams the continuation of <paramref name="prompt"/>; chunks never split a character, and the last one carries the full result.</summary>
    public IAsyncEnumerable<GenerationChunk> GenerateStreamingAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        model.GenerateStreamingAsync(Text(prompt), options, cancellation);

    /// <summary>Logits [T, vocab] (float32, CPU) of a full forward pass over <paramref name="ids"/>.</summary>
    public Tensor PromptLogits(IReadOnlyList<int> ids) => model.PromptLogits(ids);

    static MultimodalPrompt Text(string prompt) => new(prompt, []);

    /// <inheritdoc />
    public void Dispose() => model.Dispose();
}
