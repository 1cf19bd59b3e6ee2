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
        var scaling = type switch
        {
            // mrope (Qwen2-VL, "default" once transformers has loaded it): default frequencies, mixed per position axis by the family.
            "default" or "mrope" => null,
            "linear" or "dynamic" => new RopeScaling(type, Positive(s, "factor")),
            "llama3" => new RopeScaling(type, Positive(s, "factor"), Positive(s, "low_freq_factor"), Positive(s, "high_freq_factor"), s.Int("original_max_position_embeddings")),
            _ => throw s.Error("rope_type", $"'{type}' is not supported (supported: linear, dynamic, llama3)."),
        };
        // Each of these would make every frequency NaN or infinite, after which the model emits one token forever.
        if (scaling is { Type: "llama3" })
        {
            if (scaling.OriginalMaxPositionEmbeddings <= 0)
                throw s.Error("original_max_position_embeddings", $"must be positive, got {scaling.OriginalMaxPositionEmbeddings}.");
            if (!(scaling.HighFreqFactor > scaling.LowFreqFactor))
                throw s.Error("high_freq_factor", $"must be greater than low_freq_factor ({scaling.LowFreqFactor}), got {scaling.HighFreqFactor}.");
        }
        return scaling;
    }

    static double Positive(JsonConfig s, string key)
    {
        double value = s.Double(key);
        return value > 0 ? value : throw s.Error(key, $"must be positive, got {value}.");
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
