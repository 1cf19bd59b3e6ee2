using System.Net.Http.Headers;
using System.Text;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.AI;

namespace LlavaModal.SemanticKernel.Services;

/// <summary>
/// Turns a Microsoft.Extensions.AI conversation into the model's prompt: system text (request instructions first,
/// then every system message) fills the template's system slot, user and assistant turns keep their order, and each
/// media item becomes its plugin's placeholder exactly where it stands among the message's items. Nothing is dropped:
/// content the model cannot take is an error naming the message and the content.
/// </summary>
static class ChatPromptBuilder
{
    /// <summary>A built prompt and what went into it (for logging).</summary>
    public sealed record Built(MultimodalPrompt Prompt, int Messages, int MediaBytes);

    public static async Task<Built> BuildAsync(MultimodalModel model, IEnumerable<ChatMessage> messages, string? instructions, LlavaChatClientOptions options, CancellationToken cancellation)
    {
        var list = messages as IList<ChatMessage> ?? messages.ToList();
        if (list.Count == 0) throw new ArgumentException("The chat history is empty: add at least one user message.", nameof(messages));

        var system = new List<string>();
        if (!string.IsNullOrWhiteSpace(instructions)) system.Add(instructions);
        var turns = new List<ChatTurn>();
        var inputs = new List<ModalityInput>();
        int mediaBytes = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var message = list[i] ?? throw new ArgumentException($"Message {i} is null.", nameof(messages));
            var role = message.Role;
            if (role == ChatRole.System)
            {
                system.Add(TextOnly(message, i, model));
                continue;
            }
            if (role != ChatRole.User && role != ChatRole.Assistant)
                throw new NotSupportedException($"Message {i} has role '{role}'; the LLaVA chat client takes system, user and assistant messages only (it cannot call tools).");

            var content = new StringBuilder();
            foreach (var item in message.Contents)
            {
                switch (item)
                {
                    case TextContent text:
                        CheckNoPlaceholder(text.Text, i, model);
                        content.Append(text.Text);
                        break;
                    case DataContent data:
                        AddMedia(ToInput(data, i));
                        break;
                    case UriContent uri:
                        AddMedia(await FetchAsync(uri, i, options, cancellation).ConfigureAwait(false));
                        break;
                    default:
                        throw Unsupported(item, i, role);
                }
            }
            turns.Add(new ChatTurn(role == ChatRole.User ? TurnRole.User : TurnRole.Assistant, content.ToString()));

            void AddMedia(ModalityInput input)
            {
                // Routed here, once: the placeholder goes where the item stands, and the input carries its modality from now on.
                ModalityInput routed;
                ModalityBinding binding;
                try { (routed, binding) = model.Router.Route(input); }
                catch (LlavaModalException e) { throw NoPlugin(model, input, i, e); }
                // LLaVA's own layout is "<image>\nquestion": a placeholder starts its own line.
                if (content.Length > 0 && !char.IsWhiteSpace(content[^1])) content.Append('\n');
                content.Append(binding.PromptText).Append('\n');
                inputs.Add(routed);
                mediaBytes += input.Data.Length;
            }
        }
        if (!turns.Any(t => t.Role == TurnRole.User))
            throw new ArgumentException("The chat history has no user message: add one (system messages alone are not a request).", nameof(messages));

        // A placeholder's trailing newline is only a separator: none is left dangling at the end of a turn.
        for (int t = 0; t < turns.Count; t++) turns[t] = turns[t] with { Content = TrimSeparator(turns[t].Content) };
        var rendered = new List<ChatTurn>(turns.Count + 1);
        if (system.Count > 0) rendered.Add(new ChatTurn(TurnRole.System, string.Join("\n", system)));
        rendered.AddRange(turns);
        // Every input already stands as its placeholder where it was in the message: the template renders, nothing is routed again.
        return new Built(new MultimodalPrompt(model.ChatTemplate.Render(rendered), inputs), list.Count, mediaBytes);
    }

    /// <summary>Names what to register: the media type's top-level name (image, audio, video) hints at the plugin; routing itself never guesses by it.</summary>
    static Exception NoPlugin(MultimodalModel model, ModalityInput input, int index, LlavaModalException cause)
    {
        var kind = input.MediaType?.Split('/')[0].Trim().ToLowerInvariant();
        var description = $"Message {index} has {input.MediaType ?? "untyped"} content ({input.Data.Length} bytes), which no loaded plugin takes (loaded: {model.Router.Loaded()}).";
        return kind is "image" or "audio" or "video"
            ? new LlavaModalException($"{description} no '{kind}' plugin is registered for this model: register one with services.AddLlavaModal(...).AddModalityEncoder<T>(){(kind == "audio" ? " or .AddAudio() for WAV/MP3" : "")}.", cause)
            : new NotSupportedException(description, cause);
    }

    static string TrimSeparator(string content) => content.EndsWith('\n') ? content[..^1] : content;

    static string TextOnly(ChatMessage message, int index, MultimodalModel model)
    {
        var text = new StringBuilder();
        foreach (var item in message.Contents)
        {
            if (item is not TextContent t) throw new NotSupportedException($"Message {index} is a system message with {Describe(item)}; system messages take text only (put media in a user message).");
            CheckNoPlaceholder(t.Text, index, model);
            text.Append(t.Text);
        }
        return text.ToString();
    }

    /// <summary>Literal placeholder text would be spliced as media and break the input count; refuse it by name.</summary>
    static void CheckNoPlaceholder(string text, int index, MultimodalModel model)
    {
        foreach (var binding in model.Modalities)
            if (text.Contains(binding.Encoder.Placeholder, StringComparison.Ordinal))
                throw new ArgumentException($"Message {index} contains the text '{binding.Encoder.Placeholder}', which this model reserves for {binding.Encoder.Modality} input; attach the {binding.Encoder.Modality} as content instead of writing its placeholder.");
    }

    /// <summary>The item's bytes; <c>AdditionalProperties["modality"]</c> (e.g. <c>"video"</c> on an animated GIF) picks the plugin, as a file's modality does.</summary>
    static ModalityInput ToInput(DataContent data, int index) =>
        new(data.Data, data.MediaType, data.Name ?? $"message {index} {data.MediaType}")
        {
            Modality = data.AdditionalProperties?.TryGetValue(ModalityKey, out var modality) == true && modality is string name ? name : null,
        };

    /// <summary>The <see cref="AIContent.AdditionalProperties"/> key naming an item's modality.</summary>
    public const string ModalityKey = "modality";

    static async Task<ModalityInput> FetchAsync(UriContent content, int index, LlavaChatClientOptions options, CancellationToken cancellation)
    {
        var uri = content.Uri;
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            throw new NotSupportedException($"Message {index} refers to {uri.Scheme}: media ({Redact(uri)}); only http(s) URIs can be fetched, and only when LlavaChatClientOptions.RemoteMediaClient is set. Pass the bytes as DataContent/ImageContent instead.");
        if (options.RemoteMediaClient is not { } http)
            throw new NotSupportedException($"Message {index} refers to remote media {Redact(uri)}; fetching remote media is off. Pass the bytes (ImageContent with data, DataContent or a data URI), or opt in by setting LlavaChatClientOptions.RemoteMediaClient to an HttpClient.");

        using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new LlavaModalException($"Message {index}: fetching {Redact(uri)} failed with HTTP {(int)response.StatusCode} {response.ReasonPhrase}.");
        if (response.Content.Headers.ContentLength > options.MaxRemoteMediaBytes)
            throw new LlavaModalException($"Message {index}: {Redact(uri)} is {response.Content.Headers.ContentLength} bytes, over LlavaChatClientOptions.MaxRemoteMediaBytes ({options.MaxRemoteMediaBytes}).");
        var bytes = await ReadLimitedAsync(response.Content, options.MaxRemoteMediaBytes, uri, index, cancellation).ConfigureAwait(false);
        var mediaType = response.Content.Headers.ContentType is MediaTypeHeaderValue { MediaType: { } served } && served != "application/octet-stream" ? served : content.MediaType;
        return ToInput(new DataContent(bytes, mediaType) { Name = Redact(uri) }, index);
    }

    static async Task<byte[]> ReadLimitedAsync(HttpContent content, long limit, Uri uri, int index, CancellationToken cancellation)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellation).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellation).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
                throw new LlavaModalException($"Message {index}: {Redact(uri)} is over LlavaChatClientOptions.MaxRemoteMediaBytes ({limit}).");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>The URI without query or credentials, for messages and logs.</summary>
    static string Redact(Uri uri) => uri.IsAbsoluteUri ? uri.GetLeftPart(UriPartial.Path) : "(relative uri)";

    static string Describe(AIContent item) => item switch
    {
        DataContent d => $"{d.MediaType} data ({d.Data.Length} bytes)",
        UriContent u => $"a {u.MediaType} URI",
        _ => item.GetType().Name,
    };

    static NotSupportedException Unsupported(AIContent item, int index, ChatRole role) => item switch
    {
        FunctionCallContent or FunctionResultContent => new($"Message {index} ({role}) holds {item.GetType().Name}: the LLaVA chat client cannot call functions, so a history with function calls or results cannot be answered."),
        _ => new($"Message {index} ({role}) holds {item.GetType().Name}, which the LLaVA chat client does not support (supported: text, images and media for a registered plugin as bytes or data URIs, and http(s) media when remote fetching is on)."),
    };
}
