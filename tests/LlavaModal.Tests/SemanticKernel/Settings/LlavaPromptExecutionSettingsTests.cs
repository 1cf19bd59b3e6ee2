using System.Text.Json;
using LlavaModal.Decoder.Generation;
using LlavaModal.SemanticKernel.Settings;
using Microsoft.SemanticKernel;
using MEAI = Microsoft.Extensions.AI;

namespace LlavaModal.Tests.SemanticKernel.Settings;

public class LlavaPromptExecutionSettingsTests
{
    static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public void Extension_data_is_read_from_json_elements_strings_and_numbers()
    {
        var generic = new PromptExecutionSettings
        {
            ServiceId = "llava",
            ExtensionData = new Dictionary<string, object>
            {
                ["max_tokens"] = Json("12"), ["temperature"] = "0.7", ["top_p"] = 0.9, ["TOP_K"] = 40L, ["min_p"] = Json("\"0.05\""),
                ["repetition_penalty"] = 1.1f, ["stop_sequences"] = Json("""["###", "USER:"]"""), ["seed"] = "42", ["frequency_penalty"] = 0, ["custom"] = "kept",
            },
        };
        var settings = LlavaPromptExecutionSettings.FromExecutionSettings(generic);
        Assert.Equal("llava", settings.ServiceId);
        var o = settings.ToGenerationOptions();
        Assert.Equal(12, o.MaxNewTokens);
        Assert.Equal(0.7f, o.Temperature);
        Assert.Equal(0.9f, o.TopP);
        Assert.Equal(40, o.TopK);
        Assert.Equal(0.05f, o.MinP);
        Assert.Equal(1.1f, o.RepetitionPenalty);
        Assert.Equal(["###", "USER:"], o.StopStrings);
        Assert.Equal(42L, o.Seed);
        Assert.Equal("kept", settings.ExtensionData!["custom"]);
    }

    [Fact]
    public void Our_settings_survive_the_json_names_prompt_templates_use()
    {
        var json = """{"max_tokens": 5, "temperature": 0.5, "top_k": 3, "min_p": 0.1, "repetition_penalty": 1.2, "stop_sequences": ["x"], "seed": 7}""";
        var settings = JsonSerializer.Deserialize<LlavaPromptExecutionSettings>(json)!;
        Assert.Equal(5, settings.MaxTokens);
        Assert.Equal(1.2f, settings.RepetitionPenalty);
        var roundTrip = JsonSerializer.Serialize(settings);
        Assert.Contains("\"max_tokens\":5", roundTrip);
        Assert.Contains("\"repetition_penalty\":1.2", roundTrip);
        Assert.Same(settings, LlavaPromptExecutionSettings.FromExecutionSettings(settings));
    }

    [Fact]
    public void Chat_options_and_their_additional_properties_are_read_and_typed_values_win()
    {
        var options = new MEAI.ChatOptions
        {
            MaxOutputTokens = 9, Temperature = 0.3f, TopP = 0.8f, TopK = 5, Seed = 3, StopSequences = ["END"],
            AdditionalProperties = new() { ["min_p"] = 0.2, ["repetition_penalty"] = Json("1.3"), ["max_tokens"] = 100 },
        };
        var o = LlavaPromptExecutionSettings.FromChatOptions(options).ToGenerationOptions();
        Assert.Equal(9, o.MaxNewTokens);
        Assert.Equal(0.3f, o.Temperature);
        Assert.Equal(0.2f, o.MinP);
        Assert.Equal(1.3f, o.RepetitionPenalty);
        Assert.Equal(["END"], o.StopStrings);
        Assert.Equal(3L, o.Seed);
    }

    [Fact]
    public void Unset_settings_keep_greedy_defaults()
    {
        var o = LlavaPromptExecutionSettings.FromExecutionSettings(null).ToGenerationOptions();
        Assert.Equal(new GenerationOptions().MaxNewTokens, o.MaxNewTokens);
        Assert.Equal(0f, o.Temperature);
        Assert.Null(o.Seed);
    }

    [Fact]
    public void Bad_values_and_penalties_are_clear_errors()
    {
        var bad = Assert.Throws<ArgumentException>(() => LlavaPromptExecutionSettings.FromExecutionSettings(new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["max_tokens"] = "lots" } }));
        Assert.Contains("max_tokens", bad.Message);
        Assert.Contains("lots", bad.Message);
        var fraction = Assert.Throws<ArgumentException>(() => LlavaPromptExecutionSettings.FromExecutionSettings(new PromptExecutionSettings { ExtensionData = new Dictionary<string, object> { ["top_k"] = 2.5 } }));
        Assert.Contains("whole number", fraction.Message);

        var frequency = Assert.Throws<NotSupportedException>(() => new LlavaPromptExecutionSettings { FrequencyPenalty = 0.5f }.ToGenerationOptions());
        Assert.Contains("frequency_penalty", frequency.Message);
        Assert.Contains("repetition_penalty", frequency.Message);
        Assert.Throws<NotSupportedException>(() => LlavaPromptExecutionSettings.FromChatOptions(new MEAI.ChatOptions { PresencePenalty = 1 }).ToGenerationOptions());
        new LlavaPromptExecutionSettings { FrequencyPenalty = 0, PresencePenalty = 0 }.ToGenerationOptions();

        var range = Assert.Throws<ArgumentOutOfRangeException>(() => new LlavaPromptExecutionSettings { TopP = 1.5f }.ToGenerationOptions());
        Assert.Equal("TopP", range.ParamName);
    }

    [Fact]
    public void Frozen_settings_refuse_changes_and_clones_are_independent()
    {
        var settings = new LlavaPromptExecutionSettings { MaxTokens = 3, StopSequences = ["a"] };
        var clone = (LlavaPromptExecutionSettings)settings.Clone();
        settings.Freeze();
        Assert.Throws<InvalidOperationException>(() => settings.MaxTokens = 4);
        clone.MaxTokens = 4;
        Assert.Equal(3, settings.MaxTokens);
        Assert.Equal(["a"], clone.StopSequences!);
    }
}
