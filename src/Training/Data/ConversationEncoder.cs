using LlavaModal.Abstractions;
using LlavaModal.Tokenizers;
using LlavaModal.Tokenizers.Chat;

namespace LlavaModal.Training.Data;

/// <summary>A tokenised training sample: ids, the labels the loss reads (<see cref="ConversationEncoder.IgnoreIndex"/> where masked), and its image.</summary>
/// <param name="Id">Sample id.</param>
/// <param name="Ids">Token ids; the image placeholder appears once, as a single id, and is expanded to the vision tokens by the model.</param>
/// <param name="Labels">Same length as <paramref name="Ids"/>: the id where the loss applies, <see cref="ConversationEncoder.IgnoreIndex"/> elsewhere.</param>
/// <param name="ImagePath">Absolute image path, or null for a text-only sample.</param>
public sealed record EncodedSample(string Id, int[] Ids, int[] Labels, string? ImagePath)
{
    /// <summary>Inputs of other modalities, in the order their placeholders appear in <see cref="Ids"/> (each placeholder one id, expanded by the model).</summary>
    public IReadOnlyList<EncodedMedia> Media { get; init; } = [];

    /// <summary>Positions whose label is not masked.</summary>
    public int SupervisedTokens => Labels.Count(l => l != ConversationEncoder.IgnoreIndex);
}

/// <summary>One non-image input of an encoded sample.</summary>
/// <param name="Modality">Its modality.</param>
/// <param name="Path">Absolute file path.</param>
public sealed record EncodedMedia(string Modality, string Path);

/// <summary>Raised when the tokenisation of a conversation's prefix is not a prefix of the whole conversation's tokenisation, so label masks would be wrong.</summary>
public sealed class TokenizationMismatchException(string message) : LlavaModalException(message);

/// <summary>
/// Turns a LLaVA conversation into ids and labels as LLaVA does for its v1 (Vicuna) template: the conversation is
/// rendered with the same <see cref="ChatTemplate"/> used at inference (system sentence, <c>USER: q ASSISTANT: a&lt;/s&gt;</c>),
/// tokenised once, and only the assistant replies with their <c>&lt;/s&gt;</c> are kept in the loss; BOS, the
/// system sentence, user turns, the <c>ASSISTANT:</c> cues and the image placeholder are masked. Each reply's span
/// is found by tokenising the text up to its start and end; if either is not a prefix of the full tokenisation the
/// sample is refused with a <see cref="TokenizationMismatchException"/> (LLaVA silently zeroes such a sample's loss).
/// </summary>
public sealed class ConversationEncoder
{
    /// <summary>The label of positions outside the loss (PyTorch's <c>ignore_index</c>).</summary>
    public const int IgnoreIndex = -100;

    readonly HfTokenizer tokenizer;
    readonly ChatTemplate template;
    readonly string? system;

    /// <summary>Creates an encoder.</summary>
    /// <param name="tokenizer">The model's tokenizer (it must know <c>&lt;image&gt;</c>).</param>
    /// <param name="system">System sentence (default: the template's, as inference uses).</param>
    /// <param name="maxLength">Longest sequence kept, counting the image placeholder as one token; longer samples are truncated.</param>
    /// <param name="template">The chat template (default <c>vicuna_v1</c>); pass <see cref="ChatTemplate.ForModel"/> of the model folder so training renders as inference does.</param>
    /// <param name="modalities">The placeholder of each other modality the model has a plugin for (<c>audio</c> → <c>&lt;audio&gt;</c>); each must be one token of <paramref name="tokenizer"/>.</param>
    public ConversationEncoder(HfTokenizer tokenizer, string? system = null, int maxLength = 2048, ChatTemplate? template = null, IReadOnlyDictionary<string, string>? modalities = null)
    {
        this.tokenizer = tokenizer;
        this.template = template ?? ChatTemplate.Named("vicuna_v1");
        this.system = system;
        MaxLength = maxLength;
        ImageTokenId = tokenizer.TokenToId(LlavaDataFile.ImagePlaceholder)
            ?? throw new ArgumentException($"The tokenizer has no {LlavaDataFile.ImagePlaceholder} token; use a LLaVA tokenizer.", nameof(tokenizer));
        foreach (var (modality, placeholder) in modalities ?? new Dictionary<string, string>())
        {
            int id = tokenizer.TokenToId(placeholder)
                ?? throw new ArgumentException($"The tokenizer has no {placeholder} token for the {modality} modality.", nameof(modalities));
            placeholders[modality] = (placeholder, id);
        }
    }

    readonly Dictionary<string, (string Text, int Id)> placeholders = new(StringComparer.Ordinal);

    /// <summary>The placeholder token id of each non-image modality.</summary>
    public IReadOnlyDictionary<string, int> PlaceholderIds => placeholders.ToDictionary(kv => kv.Key, kv => kv.Value.Id);

    /// <summary>Id of <c>&lt;image&gt;</c>.</summary>
    public int ImageTokenId { get; }

    /// <summary>Longest sequence kept.</summary>
    public int MaxLength { get; }

    /// <summary>The rendered text of a sample's full conversation (what is tokenised).</summary>
    public string Render(LlavaSample sample) => Spans(sample).Full;

    /// <summary>Encodes a sample; <paramref name="imageFolder"/> resolves its image path.</summary>
    /// <exception cref="TokenizationMismatchException">A reply's boundaries do not fall on token boundaries.</exception>
    public EncodedSample Encode(LlavaSample sample, string? imageFolder = null)
    {
        foreach (var item in sample.Media ?? [])
            if (item?.Modality is { } m && m != "image" && !placeholders.ContainsKey(m)) throw new UnregisteredModalityException(sample.Id, m, ["image", .. placeholders.Keys]);
        LlavaDataFile.Validate(sample, "sample", m => placeholders.TryGetValue(m, out var p) ? p.Text : LlavaDataFile.PlaceholderOf(m));
        var (full, replies) = Spans(sample);
        var ids = tokenizer.Encode(full).ToArray();
        var labels = Enumerable.Repeat(IgnoreIndex, ids.Length).ToArray();
        foreach (var (start, end) in replies)
        {
            int s = PrefixLength(full, start, ids, sample.Id);
            int e = PrefixLength(full, end, ids, sample.Id);
            for (int i = s; i < e; i++)
            {
                if (ids[i] == ImageTokenId) throw new InvalidDataException($"sample '{sample.Id}': an assistant reply contains {LlavaDataFile.ImagePlaceholder}.");
                if (placeholders.Values.FirstOrDefault(p => p.Id == ids[i]) is { Text: { } text }) throw new InvalidDataException($"sample '{sample.Id}': an assistant reply contains {text}.");
                labels[i] = ids[i];
            }
        }
        if (ids.Length > MaxLength)
        {
            ids = ids[..MaxLength];
            labels = labels[..MaxLength];
        }
        string? image = sample.Image is null ? null : MediaPath(sample.Id, sample.Image, imageFolder);
        if (image is not null && !ids.Contains(ImageTokenId))
        {
            // LLaVA puts the image first when the text does not place it.
            throw new InvalidDataException($"sample '{sample.Id}' has an image but no {LlavaDataFile.ImagePlaceholder} in its text (or it was truncated away).");
        }
        var media = new List<EncodedMedia>();
        foreach (var (modality, (text, id)) in placeholders)
        {
            // Every placeholder in the text needs its input (a <audio> without media would splice nothing), and truncation must keep them all.
            var inputs = (sample.Media ?? []).Where(m => m.Modality == modality).ToList();
            int kept = ids.Count(i => i == id);
            if (kept != inputs.Count)
                throw new InvalidDataException($"sample '{sample.Id}': {inputs.Count} {modality} input(s) but {kept} {text} placeholder(s) in its tokens" + (kept < inputs.Count ? " (truncated away?)." : "."));
        }
        // Each modality's inputs in the order of its placeholders, interleaved as the placeholders stand.
        var next = placeholders.Keys.ToDictionary(m => m, _ => 0);
        var byId = placeholders.ToDictionary(kv => kv.Value.Id, kv => kv.Key);
        foreach (var id in ids)
        {
            if (!byId.TryGetValue(id, out var modality)) continue;
            var input = sample.Media!.Where(m => m.Modality == modality).ElementAt(next[modality]++);
            media.Add(new EncodedMedia(modality, MediaPath(sample.Id, input.File, imageFolder)));
        }
        return new EncodedSample(sample.Id, ids, labels, image) { Media = media };
    }

    /// <summary>
    /// A sample's image or media file under <paramref name="imageFolder"/>. Data files are untrusted: a path that is absolute or climbs
    /// with <c>..</c> is refused from its text alone, before any file is looked at, so the error says nothing about what
    /// exists outside the folder.
    /// </summary>
    static string MediaPath(string id, string path, string? imageFolder)
    {
        var parts = path.Split(['/', '\\']);
        if (path.Length == 0 || Path.IsPathRooted(path) || path.Contains(':', StringComparison.Ordinal) || parts.Contains(".."))
            throw new InvalidDataException($"sample '{id}': image path '{path}' is refused: image paths must be relative to the image folder (--images) and stay inside it (no absolute paths, drive letters or '..').");
        return imageFolder is null ? path : Path.GetFullPath(Path.Combine(imageFolder, path));
    }

    int PrefixLength(string full, int charEnd, int[] ids, string id)
    {
        var prefix = tokenizer.Encode(full[..charEnd]);
        if (!IsPrefix(prefix, ids))
            throw new TokenizationMismatchException(
                $"sample '{id}': the tokens of the text up to character {charEnd} ('...{Tail(full[..charEnd])}') are not a prefix of the conversation's tokens; the label mask cannot be placed.");
        return prefix.Count;
    }

    internal static bool IsPrefix(IReadOnlyList<int> prefix, int[] ids) => prefix.Count <= ids.Length && prefix.SequenceEqual(ids.Take(prefix.Count));

    static string Tail(string s) => s.Length <= 40 ? s : s[^40..];

    /// <summary>The full text and, for each assistant reply, the character span of <c>" reply&lt;/s&gt;"</c>.</summary>
    (string Full, List<(int Start, int End)> Replies) Spans(LlavaSample sample)
    {
        var messages = new List<ChatTurn>();
        if (system is not null) messages.Add(new ChatTurn(TurnRole.System, system));
        var replies = new List<(int, int)>();
        string text = "";
        foreach (var turn in sample.Conversations)
        {
            if (turn.From == "human")
            {
                messages.Add(new ChatTurn(TurnRole.User, turn.Value));
                continue;
            }
            // The template's prompt for the next reply ends with the assistant cue; the reply follows it.
            var prompt = template.Render(messages);
            if (!prompt.StartsWith(text, StringComparison.Ordinal))
                throw new InvalidOperationException("The chat template does not render conversations prefix-consistently.");
            var reply = " " + turn.Value.Trim() + "</s>";
            replies.Add((prompt.Length, prompt.Length + reply.Length));
            text = prompt + reply;
            messages.Add(new ChatTurn(TurnRole.Assistant, turn.Value.Trim()));
        }
        if (messages.Count > 0 && messages[^1].Role == TurnRole.User)
        {
            // A trailing question without an answer: kept as context, outside the loss.
            text = template.Render(messages);
        }
        return (text, replies);
    }
}
