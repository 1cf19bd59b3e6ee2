using System.Text.Json;
using LlavaModal.Decoder.Generation.Constraints;
using Microsoft.Extensions.AI;

namespace LlavaModal.Server.OpenAi;

/// <summary>
/// A Chat Completions request read into Microsoft.Extensions.AI terms, so the server answers through the same
/// <see cref="IChatClient"/> as in-process callers. Every field the server cannot honour is refused by name (400), never
/// silently dropped.
/// </summary>
sealed record ChatRequest(string? Model, List<ChatMessage> Messages, ChatOptions Options, bool Stream, bool IncludeUsage, int MediaCount)
{
    /// <exception cref="OpenAiException">The body is not a valid request (400, naming the parameter).</exception>
    public static ChatRequest Parse(JsonElement body, ServerOptions limits)
    {
        if (body.ValueKind != JsonValueKind.Object) throw OpenAiException.BadRequest("The request body must be a JSON object.");
        var model = OptionalString(body, "model");
        if (!body.TryGetProperty("messages", out var messagesJson) || messagesJson.ValueKind != JsonValueKind.Array)
            throw OpenAiException.BadRequest("'messages' is required and must be an array.", "messages");
        if (messagesJson.GetArrayLength() == 0) throw OpenAiException.BadRequest("'messages' must not be empty.", "messages");

        int media = 0;
        var messages = new List<ChatMessage>();
        int index = 0;
        foreach (var message in messagesJson.EnumerateArray())
        {
            messages.Add(Message(message, index, ref media, limits));
            index++;
        }
        if (media > limits.MaxMediaPerRequest)
            throw OpenAiException.BadRequest($"The request carries {media} images or audio clips; this server takes at most {limits.MaxMediaPerRequest} per request (--max-media).", "messages", "too_many_media");

        var options = new ChatOptions { ModelId = model, AdditionalProperties = [] };
        int? maxTokens = OptionalInt(body, "max_completion_tokens") ?? OptionalInt(body, "max_tokens");
        if (maxTokens is < 1) throw OpenAiException.BadRequest($"'max_tokens' must be at least 1, got {maxTokens}.", "max_tokens");
        options.MaxOutputTokens = maxTokens;
        options.Temperature = OptionalFloat(body, "temperature") is { } t
            ? (t is >= 0 and <= 2 ? t : throw OpenAiException.BadRequest($"'temperature' must be between 0 and 2, got {t}.", "temperature")) : null;
        options.TopP = OptionalFloat(body, "top_p") is { } p
            ? (p is > 0 and <= 1 ? p : throw OpenAiException.BadRequest($"'top_p' must be in (0, 1], got {p}.", "top_p")) : null;
        options.Seed = OptionalLong(body, "seed");
        options.FrequencyPenalty = OptionalFloat(body, "frequency_penalty");
        options.PresencePenalty = OptionalFloat(body, "presence_penalty");
        options.StopSequences = Stops(body);
        // Sampling knobs OpenAI lacks but local servers (vLLM, llama.cpp) accept under these names.
        if (OptionalInt(body, "top_k") is { } k) options.AdditionalProperties["top_k"] = k;
        if (OptionalFloat(body, "min_p") is { } minP) options.AdditionalProperties["min_p"] = minP;
        if (OptionalFloat(body, "repetition_penalty") is { } penalty) options.AdditionalProperties["repetition_penalty"] = penalty;

        if (OptionalInt(body, "n") is { } n && n != 1) throw OpenAiException.BadRequest($"'n' must be 1 (one answer per request), got {n}.", "n");
        if (body.TryGetProperty("logprobs", out var logprobs) && logprobs.ValueKind == JsonValueKind.True)
            throw OpenAiException.BadRequest("'logprobs' is not supported by this server.", "logprobs");
        if (body.TryGetProperty("response_format", out var format) && format.ValueKind != JsonValueKind.Null)
            options.ResponseFormat = ResponseFormat(format);
        if (body.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
            throw OpenAiException.BadRequest("'tools' are not supported: the model cannot call functions.", "tools");

        bool stream = OptionalBool(body, "stream") ?? false;
        bool includeUsage = body.TryGetProperty("stream_options", out var streamOptions) && streamOptions.ValueKind == JsonValueKind.Object
            && (OptionalBool(streamOptions, "include_usage") ?? false);
        return new ChatRequest(model, messages, options, stream, includeUsage, media);
    }

    /// <summary>
    /// OpenAI's <c>response_format</c>: <c>text</c>, <c>json_object</c>, or <c>json_schema</c> with its schema, which is
    /// compiled here so that a schema constrained decoding cannot follow is a 400 naming the keyword before any work.
    /// </summary>
    static ChatResponseFormat? ResponseFormat(JsonElement format)
    {
        if (format.ValueKind != JsonValueKind.Object) throw OpenAiException.BadRequest("'response_format' must be an object.", "response_format");
        switch (OptionalString(format, "type"))
        {
            case "text": return ChatResponseFormat.Text;
            case "json_object": return ChatResponseFormat.Json;
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out var wrapper) || wrapper.ValueKind != JsonValueKind.Object
                    || !wrapper.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                    throw OpenAiException.BadRequest("'response_format.json_schema.schema' is required: the JSON schema of the answer.", "response_format.json_schema.schema");
                try { OutputGrammar.FromJsonSchema(schema); }
                catch (Exception e) when (e is NotSupportedException or ArgumentException)
                {
                    throw OpenAiException.BadRequest(e.Message, "response_format.json_schema.schema");
                }
                return ChatResponseFormat.ForJsonSchema(schema.Clone(), OptionalString(wrapper, "name"), OptionalString(wrapper, "description"));
            case var other:
                throw OpenAiException.BadRequest($"'response_format.type' is '{other}'; expected text, json_object or json_schema.", "response_format.type");
        }
    }

    static ChatMessage Message(JsonElement message, int index, ref int media, ServerOptions limits)
    {
        string path = $"messages[{index}]";
        if (message.ValueKind != JsonValueKind.Object) throw OpenAiException.BadRequest($"'{path}' must be an object.", path);
        var role = OptionalString(message, "role") ?? throw OpenAiException.BadRequest($"'{path}.role' is required.", $"{path}.role");
        var chatRole = role switch
        {
            "system" or "developer" => ChatRole.System,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            "tool" or "function" => throw OpenAiException.BadRequest($"'{path}' has role '{role}': the model cannot call functions, so tool results cannot be answered.", $"{path}.role"),
            _ => throw OpenAiException.BadRequest($"'{path}.role' '{role}' is not one of system, developer, user, assistant.", $"{path}.role"),
        };
        if (message.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array && calls.GetArrayLength() > 0)
            throw OpenAiException.BadRequest($"'{path}' holds tool calls: the model cannot call functions.", $"{path}.tool_calls");
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
            throw OpenAiException.BadRequest($"'{path}.content' is required.", $"{path}.content");

        var contents = new List<AIContent>();
        if (content.ValueKind == JsonValueKind.String) contents.Add(new TextContent(content.GetString()));
        else if (content.ValueKind == JsonValueKind.Array)
        {
            int part = 0;
            foreach (var item in content.EnumerateArray())
            {
                contents.Add(Part(item, $"{path}.content[{part}]", ref media, limits));
                part++;
            }
        }
        else throw OpenAiException.BadRequest($"'{path}.content' must be a string or an array of content parts.", $"{path}.content");
        return new ChatMessage(chatRole, contents);
    }

    static AIContent Part(JsonElement item, string path, ref int media, ServerOptions limits)
    {
        if (item.ValueKind != JsonValueKind.Object) throw OpenAiException.BadRequest($"'{path}' must be an object.", path);
        var type = OptionalString(item, "type") ?? throw OpenAiException.BadRequest($"'{path}.type' is required.", $"{path}.type");
        switch (type)
        {
            case "text":
                return new TextContent(OptionalString(item, "text") ?? throw OpenAiException.BadRequest($"'{path}.text' is required.", $"{path}.text"));
            case "image_url":
            {
                media++;
                var image = item.TryGetProperty("image_url", out var v) ? v : default;
                var url = image.ValueKind switch
                {
                    JsonValueKind.String => image.GetString(),
                    JsonValueKind.Object => OptionalString(image, "url"),
                    _ => null,
                } ?? throw OpenAiException.BadRequest($"'{path}.image_url.url' is required.", $"{path}.image_url.url");
                if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
                {
                    try { return new DataContent(url); }
                    catch (Exception e) when (e is FormatException or ArgumentException)
                    {
                        throw OpenAiException.BadRequest($"'{path}.image_url.url' is not a valid data URI: {e.Message}", $"{path}.image_url.url");
                    }
                }
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                    throw OpenAiException.BadRequest($"'{path}.image_url.url' must be a data: URI or an http(s) URL.", $"{path}.image_url.url");
                if (!limits.AllowRemoteMedia)
                    throw OpenAiException.BadRequest($"'{path}.image_url.url' is a remote URL; this server takes images as data: URIs only (start it with --allow-remote-media to fetch URLs).", $"{path}.image_url.url", "remote_media_disabled");
                return new UriContent(uri, "image/*");
            }
            case "input_audio":
            {
                media++;
                var audio = item.TryGetProperty("input_audio", out var a) && a.ValueKind == JsonValueKind.Object ? a
                    : throw OpenAiException.BadRequest($"'{path}.input_audio' is required.", $"{path}.input_audio");
                var data = OptionalString(audio, "data") ?? throw OpenAiException.BadRequest($"'{path}.input_audio.data' is required.", $"{path}.input_audio.data");
                var format = OptionalString(audio, "format") ?? "wav";
                var mediaType = format switch
                {
                    "wav" => "audio/wav",
                    "mp3" => "audio/mpeg",
                    _ => throw OpenAiException.BadRequest($"'{path}.input_audio.format' '{format}' is not supported (wav, mp3).", $"{path}.input_audio.format"),
                };
                byte[] bytes;
                try { bytes = Convert.FromBase64String(data); }
                catch (FormatException) { throw OpenAiException.BadRequest($"'{path}.input_audio.data' is not valid base64.", $"{path}.input_audio.data"); }
                return new DataContent(bytes, mediaType);
            }
            default:
                throw OpenAiException.BadRequest($"'{path}.type' '{type}' is not supported (text, image_url, input_audio).", $"{path}.type");
        }
    }

    static List<string>? Stops(JsonElement body)
    {
        if (!body.TryGetProperty("stop", out var stop) || stop.ValueKind == JsonValueKind.Null) return null;
        if (stop.ValueKind == JsonValueKind.String) return [stop.GetString()!];
        if (stop.ValueKind != JsonValueKind.Array) throw OpenAiException.BadRequest("'stop' must be a string or an array of strings.", "stop");
        var list = new List<string>();
        foreach (var s in stop.EnumerateArray())
            list.Add(s.ValueKind == JsonValueKind.String && s.GetString() is { Length: > 0 } text ? text : throw OpenAiException.BadRequest("'stop' entries must be non-empty strings.", "stop"));
        return list.Count > 0 ? list : null;
    }

    static string? OptionalString(JsonElement o, string key) =>
        !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString() : throw OpenAiException.BadRequest($"'{key}' must be a string.", key);

    static bool? OptionalBool(JsonElement o, string key) =>
        !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw OpenAiException.BadRequest($"'{key}' must be true or false.", key);

    static long? OptionalLong(JsonElement o, string key) =>
        !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : throw OpenAiException.BadRequest($"'{key}' must be an integer.", key);

    static int? OptionalInt(JsonElement o, string key) =>
        OptionalLong(o, key) is { } l ? (l is >= int.MinValue and <= int.MaxValue ? (int)l : throw OpenAiException.BadRequest($"'{key}' is out of range.", key)) : null;

    static float? OptionalFloat(JsonElement o, string key) =>
        !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d) ? (float)d : throw OpenAiException.BadRequest($"'{key}' must be a finite number.", key);
}
