using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Core.Modules;

/// <summary>RoPE scaling from <c>rope_scaling</c>: <c>none</c>, <c>linear</c>, <c>dynamic</c> (NTK) or <c>llama3</c>.</summary>
/// <param name="Type">The scaling variant.</param>
/// <param name="Factor">The scaling factor.</param>
/// <param name="LowFreqFactor">llama3 only.</param>
/// <param name="HighFreqFactor">llama3 only.</param>
/// <param name="OriginalMaxPositionEmbeddings">llama3 only: the context length the model was pretrained with.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositionEmbeddings = 8192)
{
    /// <summary>Reads <c>rope_scaling</c> (null when absent or <c>default</c>).</summary>
    /// <exception cref="ConfigException">A missing or unsupported key, naming it.</exception>
    public static RopeScaling? FromJson(JsonConfig json)
    {
        if (!json.Has("rope_scaling")) return null;
        var s = json.Section("rope_scaling");
        var type = s.OptionalString("rope_type") ?? s.OptionalString("type") ?? throw s.Error("rope_type", "required but missing.");
        return type switch
        {
            "default" => null,
            "linear" or "dynamic" => new RopeScaling(type, s.Double("factor")),
            "llama3" => new RopeScaling(type, s.Double("factor"), s.Double("low_freq_factor"), s.Double("high_freq_factor"), s.Int("original_max_position_embeddings")),
            _ => throw s.Error("rope_type", $"'{type}' is not supported (supported: linear, dynamic, llama3)."),
        };
    }

    /// <summary>The <c>rope_scaling</c> object as <c>save_pretrained</c> writes it (inverse of <see cref="FromJson"/>).</summary>
    public Dictionary<string, object> ToJsonObject() => new()
    {
        ["rope_type"] = Type,
        ["factor"] = Factor,
        ["low_freq_factor"] = LowFreqFactor,
        ["high_freq_factor"] = HighFreqFactor,
        ["original_max_position_embeddings"] = OriginalMaxPositionEmbeddings,
    };
}
