using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Core.Adapters;

/// <summary>
/// A PEFT LoRA adapter's <c>adapter_config.json</c>: what is needed to apply it (rank, alpha, per-layer overrides,
/// rsLoRA, the base model) and the keys PEFT writes, so an adapter saved here loads in PEFT and one saved by PEFT loads
/// here. Variants that change the arithmetic and are not implemented (DoRA, <c>fan_in_fan_out</c>, trained biases,
/// layer replication) are refused by name rather than applied wrongly.
/// </summary>
public sealed record PeftAdapterConfig
{
    /// <summary>The file name.</summary>
    public const string FileName = "adapter_config.json";

    /// <summary>The adapters' shape (rank, alpha, dropout, targets, rsLoRA).</summary>
    public required LoraSettings Lora { get; init; }

    /// <summary>PEFT's <c>base_model_name_or_path</c>: the base model's folder (or a Hub id, which cannot be loaded offline).</summary>
    public string? BaseModel { get; init; }

    /// <summary>Modules stored whole beside the adapters (PEFT's <c>modules_to_save</c>; LLaVA: the projector).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];

    /// <summary>PEFT's <c>rank_pattern</c>: a layer-name pattern to its rank, where it differs from <see cref="LoraSettings.Rank"/>.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>PEFT's <c>alpha_pattern</c>: a layer-name pattern to its alpha, where it differs from <see cref="LoraSettings.Alpha"/>.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

    /// <summary>PEFT's <c>task_type</c> (<c>CAUSAL_LM</c>).</summary>
    public string TaskType { get; init; } = "CAUSAL_LM";

    /// <summary>The scaling of the layer at <paramref name="modulePath"/> whose adapter has rank <paramref name="rank"/>: its alpha (the first <see cref="AlphaPattern"/> key that matches, as PEFT matches them) over its rank.</summary>
    public double ScalingOf(string modulePath, long rank)
    {
        double alpha = Lora.Alpha;
        foreach (var (pattern, value) in AlphaPattern)
            if (Matches(pattern, modulePath)) { alpha = value; break; }
        return Lora.UseRsLora ? alpha / Math.Sqrt(rank) : alpha / rank;
    }

    /// <summary>The rank the config gives the layer at <paramref name="modulePath"/>.</summary>
    public int RankOf(string modulePath)
    {
        foreach (var (pattern, value) in RankPattern)
            if (Matches(pattern, modulePath)) return value;
        return Lora.Rank;
    }

    // PEFT: a pattern key matches a module whose name ends with ".key" (the key itself may be a regular expression).
    static bool Matches(string pattern, string modulePath) =>
        modulePath == pattern || Regex.IsMatch(modulePath, $@"^(.*\.)?{pattern}$", RegexOptions.None, TimeSpan.FromSeconds(1));

    /// <summary>Reads <c>adapter_config.json</c> from <paramref name="directory"/>.</summary>
    /// <exception cref="Abstractions.ConfigException">A missing or malformed key, a PEFT type other than LoRA, or a LoRA variant this build does not apply (named).</exception>
    public static PeftAdapterConfig Load(string directory)
    {
        var c = JsonConfig.Load(Path.Combine(directory, FileName));
        var type = c.String("peft_type");
        if (type != "LORA") throw c.Error("peft_type", $"'{type}' adapters are not supported (only LORA).");
        foreach (var flag in new[] { "use_dora", "fan_in_fan_out", "lora_bias" })
            if (c.Bool(flag, false)) throw c.Error(flag, "true is not supported (it changes how the adapter is applied).");
        if (c.String("bias", "none") is var bias && bias != "none") throw c.Error("bias", $"'{bias}' is not supported (only \"none\": trained biases are not applied).");
        foreach (var key in new[] { "layers_to_transform", "layer_replication" })
            if (c.Has(key)) throw c.Error(key, "is not supported (adapters are applied to every layer that has one).");
        var targets = c.TryGet("target_modules", out var t) ? t.ValueKind switch
        {
            JsonValueKind.Array => t.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw c.Error("target_modules", $"expected layer names, got {t.GetRawText()}.")).ToList(),
            // A regular expression over module paths: the tensors in the adapter file say which layers it covers.
            JsonValueKind.String => [],
            _ => throw c.Error("target_modules", $"expected a list of layer names or a pattern, got {t.GetRawText()}."),
        } : [];
        int rank = c.Int("r", 8);
        double alpha = c.Double("lora_alpha", 8);
        if (rank < 1) throw c.Error("r", $"must be at least 1, got {rank}.");
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw c.Error("lora_alpha", $"must be a positive finite number, got {alpha}.");
        double dropout = c.Double("lora_dropout", 0);
        if (!(dropout >= 0 && dropout < 1)) throw c.Error("lora_dropout", $"must be in [0, 1), got {dropout}.");
        return new PeftAdapterConfig
        {
            Lora = new LoraSettings
            {
                Rank = rank,
                Alpha = alpha,
                Dropout = dropout,
                TargetModules = targets.Count > 0 ? targets : LoraSettings.AllProjections,
                UseRsLora = c.Bool("use_rslora", false),
            },
            BaseModel = c.OptionalString("base_model_name_or_path"),
            ModulesToSave = StringList(c, "modules_to_save"),
            RankPattern = Pattern(c, "rank_pattern", (e, key) => e.TryGetInt32(out var v) && v >= 1 ? v : throw c.Error(key, $"expected ranks of at least 1, got {e.GetRawText()}.")),
            AlphaPattern = Pattern(c, "alpha_pattern", (e, key) => e.TryGetDouble(out var v) && v > 0 && double.IsFinite(v) ? v : throw c.Error(key, $"expected positive alphas, got {e.GetRawText()}.")),
            TaskType = c.String("task_type", "CAUSAL_LM"),
        };
    }

    static List<string> StringList(JsonConfig c, string key)
    {
        if (!c.TryGet(key, out var v)) return [];
        if (v.ValueKind != JsonValueKind.Array) throw c.Error(key, $"expected a list of module names, got {v.GetRawText()}.");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw c.Error(key, $"expected module names, got {v.GetRawText()}.")).ToList();
    }

    static Dictionary<string, T> Pattern<T>(JsonConfig c, string key, Func<JsonElement, string, T> read)
    {
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        if (!c.TryGet(key, out var v)) return result;
        if (v.ValueKind != JsonValueKind.Object) throw c.Error(key, $"expected an object of layer patterns, got {v.GetRawText()}.");
        foreach (var p in v.EnumerateObject()) result[p.Name] = read(p.Value, key);
        return result;
    }

    /// <summary>Writes <c>adapter_config.json</c> into <paramref name="directory"/> with the keys PEFT writes.</summary>
    public void Save(string directory)
    {
        var json = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(AlphaPattern.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = BaseModel,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layer_replication"] = null,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = Lora.Alpha,
            ["lora_dropout"] = Lora.Dropout,
            ["modules_to_save"] = ModulesToSave.Count == 0 ? null : new JsonArray(ModulesToSave.Select(m => (JsonNode?)m).ToArray()),
            ["peft_type"] = "LORA",
            ["r"] = Lora.Rank,
            ["rank_pattern"] = new JsonObject(RankPattern.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
            ["revision"] = null,
            ["target_modules"] = new JsonArray(Lora.TargetModules.Select(m => (JsonNode?)m).ToArray()),
            ["task_type"] = TaskType,
            ["use_dora"] = false,
            ["use_rslora"] = Lora.UseRsLora,
        };
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, FileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
