using System.Text.Json.Serialization;
using LlavaModal.Decoder.Generation;
using Microsoft.SemanticKernel;
using MEAI = Microsoft.Extensions.AI;

namespace LlavaModal.SemanticKernel.Settings;

/// <summary>
/// Execution settings for a local LLaVA model. Unset values keep the model's defaults: greedy decoding (temperature 0)
/// of up to 256 tokens, no filters, no penalty. The JSON names (<c>max_tokens</c>, <c>top_p</c>, ...) are the ones
/// prompt templates and <see cref="PromptExecutionSettings.ExtensionData"/> use.
/// </summary>
public sealed class LlavaPromptExecutionSettings : PromptExecutionSettings
{
    int? maxTokens;
    float? temperature, topP, minP, repetitionPenalty, frequencyPenalty, presencePenalty;
    int? topK;
    long? seed;
    IList<string>? stopSequences;
    object? responseFormat;

    /// <summary>Maximum tokens to generate (default 256).</summary>
    [JsonPropertyName("max_tokens")]
    public int? MaxTokens { get => maxTokens; set { ThrowIfFrozen(); maxTokens = value; } }

    /// <summary>0 (default) decodes greedily; above 0 samples with this temperature.</summary>
    [JsonPropertyName("temperature")]
    public float? Temperature { get => temperature; set { ThrowIfFrozen(); temperature = value; } }

    /// <summary>Nucleus sampling threshold in (0, 1] (1 = off).</summary>
    [JsonPropertyName("top_p")]
    public float? TopP { get => topP; set { ThrowIfFrozen(); topP = value; } }

    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    [JsonPropertyName("top_k")]
    public int? TopK { get => topK; set { ThrowIfFrozen(); topK = value; } }

    /// <summary>Drop tokens less likely than this fraction of the most likely one, in [0, 1] (0 = off).</summary>
    [JsonPropertyName("min_p")]
    public float? MinP { get => minP; set { ThrowIfFrozen(); minP = value; } }

    /// <summary>Multiplicative penalty on tokens already in the prompt or the answer, as Hugging Face applies it (1 = off).</summary>
    [JsonPropertyName("repetition_penalty")]
    public float? RepetitionPenalty { get => repetitionPenalty; set { ThrowIfFrozen(); repetitionPenalty = value; } }

    /// <summary>Generation stops when the answer contains one of these; the answer is cut before it.</summary>
    [JsonPropertyName("stop_sequences")]
    public IList<string>? StopSequences { get => stopSequences; set { ThrowIfFrozen(); stopSequences = value; } }

    /// <summary>Seed for sampling: the same seed, history and settings give the same answer.</summary>
    [JsonPropertyName("seed")]
    public long? Seed { get => seed; set { ThrowIfFrozen(); seed = value; } }

    /// <summary>
    /// The shape of the answer, enforced while decoding (every answer parses): <c>"text"</c> (default), <c>"json_object"</c>
    /// (any JSON object), a JSON schema (a <see cref="System.Text.Json.JsonElement"/> or its text, bare or in OpenAI's
    /// <c>{"type": "json_schema", "json_schema": {"schema": ...}}</c>), a .NET type (its schema), or a
    /// <see cref="MEAI.ChatResponseFormat"/>. Stored as <c>"text"</c>, <c>"json_object"</c> or the schema.
    /// </summary>
    /// <exception cref="ArgumentException">A value of none of these forms.</exception>
    [JsonPropertyName("response_format")]
    public object? ResponseFormat { get => responseFormat; set { ThrowIfFrozen(); responseFormat = ResponseFormats.Normalize(value); } }

    /// <summary>Not supported by LLaVA generation: any value other than 0 is refused (use <see cref="RepetitionPenalty"/>).</summary>
    [JsonPropertyName("frequency_penalty")]
    public float? FrequencyPenalty { get => frequencyPenalty; set { ThrowIfFrozen(); frequencyPenalty = value; } }

    /// <summary>Not supported by LLaVA generation: any value other than 0 is refused (use <see cref="RepetitionPenalty"/>).</summary>
    [JsonPropertyName("presence_penalty")]
    public float? PresencePenalty { get => presencePenalty; set { ThrowIfFrozen(); presencePenalty = value; } }

    /// <inheritdoc />
    public override PromptExecutionSettings Clone() => new LlavaPromptExecutionSettings
    {
        ModelId = ModelId,
        ServiceId = ServiceId,
        FunctionChoiceBehavior = FunctionChoiceBehavior,
        ExtensionData = ExtensionData is null ? null : new Dictionary<string, object>(ExtensionData),
        MaxTokens = MaxTokens, Temperature = Temperature, TopP = TopP, TopK = TopK, MinP = MinP,
        RepetitionPenalty = RepetitionPenalty, StopSequences = StopSequences?.ToList(), Seed = Seed,
        FrequencyPenalty = FrequencyPenalty, PresencePenalty = PresencePenalty, ResponseFormat = ResponseFormat,
    };

    /// <summary>
    /// Reads any settings as LLaVA settings: ours are returned as they are; generic ones are read from their
    /// <see cref="PromptExecutionSettings.ExtensionData"/> (values as <see cref="System.Text.Json.JsonElement"/>, strings or numbers;
    /// keys as in the settings table, case-insensitive). Unknown keys stay in <see cref="PromptExecutionSettings.ExtensionData"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A known key has a value of the wrong type (named in the message).</exception>
    public static LlavaPromptExecutionSettings FromExecutionSettings(PromptExecutionSettings? executionSettings)
    {
        switch (executionSettings)
        {
            case null: return new LlavaPromptExecutionSettings();
            case LlavaPromptExecutionSettings llava: return llava;
        }
        var settings = new LlavaPromptExecutionSettings
        {
            ModelId = executionSettings.ModelId,
            ServiceId = executionSettings.ServiceId,
            FunctionChoiceBehavior = executionSettings.FunctionChoiceBehavior,
        };
        if (executionSettings.ExtensionData is { Count: > 0 } data)
        {
            var unknown = new Dictionary<string, object>();
            foreach (var (key, value) in data)
                if (!settings.TryApply(key, value)) unknown[key] = value;
            if (unknown.Count > 0) settings.ExtensionData = unknown;
        }
        return settings;
    }

    /// <summary>Sets the property a (case-insensitive) key names; false for keys this class does not know.</summary>
    internal bool TryApply(string key, object? value)
    {
        switch (key.ToLowerInvariant())
        {
            case "max_tokens" or "max_new_tokens" or "max_output_tokens": MaxTokens = SettingValue.ToInt(key, value); break;
            case "temperature": Temperature = SettingValue.ToFloat(key, value); break;
            case "top_p": TopP = SettingValue.ToFloat(key, value); break;
            case "top_k": TopK = SettingValue.ToInt(key, value); break;
            case "min_p": MinP = SettingValue.ToFloat(key, value); break;
            case "repetition_penalty": RepetitionPenalty = SettingValue.ToFloat(key, value); break;
            case "stop_sequences" or "stop": StopSequences = SettingValue.ToStrings(key, value); break;
            case "seed": Seed = SettingValue.ToLong(key, value); break;
            case "frequency_penalty": FrequencyPenalty = SettingValue.ToFloat(key, value); break;
            case "presence_penalty": PresencePenalty = SettingValue.ToFloat(key, value); break;
            case "response_format": ResponseFormat = value; break;
            default: return false;
        }
        return true;
    }

    /// <summary>
    /// Reads Microsoft.Extensions.AI options: the typed properties, and <see cref="MEAI.ChatOptions.AdditionalProperties"/>
    /// (where Semantic Kernel puts the keys it does not map itself, such as <c>min_p</c> and <c>repetition_penalty</c>).
    /// Typed properties win over additional properties of the same meaning.
    /// </summary>
    internal static LlavaPromptExecutionSettings FromChatOptions(MEAI.ChatOptions? options)
    {
        var settings = new LlavaPromptExecutionSettings();
        if (options is null) return settings;
        settings.ModelId = options.ModelId;
        if (options.AdditionalProperties is { Count: > 0 } extra)
        {
            var unknown = new Dictionary<string, object>();
            foreach (var (key, value) in extra)
                if (!settings.TryApply(key, value) && value is not null) unknown[key] = value;
            if (unknown.Count > 0) settings.ExtensionData = unknown;
        }
        if (options.MaxOutputTokens is { } max) settings.MaxTokens = max;
        if (options.Temperature is { } t) settings.Temperature = t;
        if (options.TopP is { } p) settings.TopP = p;
        if (options.TopK is { } k) settings.TopK = k;
        if (options.Seed is { } s) settings.Seed = s;
        if (options.StopSequences is { Count: > 0 } stops) settings.StopSequences = stops.ToList();
        if (options.FrequencyPenalty is { } f) settings.FrequencyPenalty = f;
        if (options.PresencePenalty is { } pp) settings.PresencePenalty = pp;
        if (options.ResponseFormat is { } format) settings.ResponseFormat = format;
        return settings;
    }

    /// <summary>The generation options these settings ask for.</summary>
    /// <exception cref="NotSupportedException">A non-zero frequency or presence penalty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value out of range (named in the message).</exception>
    /// <exception cref="NotSupportedException">A response-format schema keyword constrained decoding does not support (named in the message).</exception>
    public GenerationOptions ToGenerationOptions()
    {
        // OpenAI-style additive penalties have no faithful equivalent in the reference sampler; refusing beats a guessed mapping.
        if (FrequencyPenalty is { } f && f != 0)
            throw new NotSupportedException($"frequency_penalty ({f}) is not supported by LLaVA generation; use repetition_penalty (multiplicative, 1 = off) instead.");
        if (PresencePenalty is { } p && p != 0)
            throw new NotSupportedException($"presence_penalty ({p}) is not supported by LLaVA generation; use repetition_penalty (multiplicative, 1 = off) instead.");
        var defaults = new GenerationOptions();
        var options = new GenerationOptions
        {
            MaxNewTokens = MaxTokens ?? defaults.MaxNewTokens,
            Temperature = Temperature ?? defaults.Temperature,
            TopP = TopP ?? defaults.TopP,
            TopK = TopK ?? defaults.TopK,
            MinP = MinP ?? defaults.MinP,
            RepetitionPenalty = RepetitionPenalty ?? defaults.RepetitionPenalty,
            StopStrings = StopSequences?.ToList() ?? [],
            Seed = Seed,
            OutputGrammar = ResponseFormats.ToGrammar(ResponseFormat),
        };
        options.Validate();
        return options;
    }
}
