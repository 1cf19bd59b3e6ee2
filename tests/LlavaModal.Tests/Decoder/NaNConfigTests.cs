using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Decoder.Llama;

namespace LlavaModal.Tests.Decoder;

/// <summary>
/// Issue 15, 5: configs that make every activation NaN (<c>rms_norm_eps</c> below zero, <c>rope_theta</c> of zero or less,
/// rope factors of zero or less, a <c>sliding_window</c> of zero or less) were accepted, after which the model emitted
/// token 0 forever. Each is now a <see cref="ConfigException"/> naming the key.
/// </summary>
public class NaNConfigTests
{
    [Theory]
    [InlineData("\"rms_norm_eps\": -1e-5", "rms_norm_eps")]
    [InlineData("\"rms_norm_eps\": 0", "rms_norm_eps")]
    [InlineData("\"rope_theta\": 0", "rope_theta")]
    [InlineData("\"rope_theta\": -10000", "rope_theta")]
    [InlineData("\"sliding_window\": 0", "sliding_window")]
    [InlineData("\"sliding_window\": -4", "sliding_window")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 0}", "rope_scaling.factor")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": -2}", "rope_scaling.factor")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 0, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}", "rope_scaling.low_freq_factor")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}", "rope_scaling.high_freq_factor")]
    [InlineData("\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 0}", "rope_scaling.original_max_position_embeddings")]
    public void A_setting_that_would_make_NaN_is_refused_naming_the_key(string setting, string key)
    {
        var json = JsonConfig.FromJson($"{{\"hidden_size\": 64, \"num_attention_heads\": 4, {setting}}}");
        Assert.Equal(key, Assert.Throws<ConfigException>(() => LlamaConfig.FromJson(json)).Key);
    }
}
