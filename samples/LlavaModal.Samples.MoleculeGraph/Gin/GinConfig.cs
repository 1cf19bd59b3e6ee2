using System.Text.Json.Nodes;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Samples.MoleculeGraph.Chemistry;

namespace LlavaModal.Samples.MoleculeGraph.Gin;

/// <summary>
/// The graph encoder's shape, stored as the <c>graph_config</c> object of a model folder's <c>config.json</c>.
/// </summary>
/// <param name="HiddenSize">Width of atom states (and of the features the projector receives).</param>
/// <param name="Layers">Message-passing layers.</param>
/// <param name="ProjectorType">Projector to the language model (<c>mlp2x_gelu</c>, <c>linear</c>, ...).</param>
public sealed record GinConfig(int HiddenSize = 64, int Layers = 3, string ProjectorType = "mlp2x_gelu")
{
    /// <summary>The <c>config.json</c> key.</summary>
    public const string ConfigKey = "graph_config";

    /// <summary>Atom ids: the elements, then one id for a masked atom (used by pretraining only).</summary>
    public static int AtomVocabulary => Elements.Count + 1;

    /// <summary>The id of a masked atom.</summary>
    public static int MaskAtom => Elements.Count;

    /// <summary>Bond ids: 0 none, 1 single, 2 double, 3 triple.</summary>
    public const int BondVocabulary = 4;

    /// <summary>Reads and checks <c>graph_config</c>.</summary>
    /// <exception cref="LlavaModal.Abstractions.ConfigException">A value is missing, of the wrong type or out of range (names the key).</exception>
    public static GinConfig FromJson(JsonConfig section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var modelType = section.String("model_type", "gin");
        if (modelType != "gin") throw section.Error("model_type", $"is '{modelType}'; this plugin reads 'gin'.");
        int hidden = section.Int("hidden_size");
        if (hidden is < 1 or > 4096) throw section.Error("hidden_size", $"is {hidden}; expected 1 to 4096.");
        int layers = section.Int("num_layers");
        if (layers is < 1 or > 32) throw section.Error("num_layers", $"is {layers}; expected 1 to 32.");
        var elements = section.OptionalString("elements");
        if (elements is not null && elements != ElementList) throw section.Error("elements", $"is '{elements}'; this plugin's atom ids are '{ElementList}'.");
        return new GinConfig(hidden, layers, section.String("graph_projector_type", "mlp2x_gelu"));
    }

    static string ElementList => string.Join(",", Enum.GetValues<Element>().Select(Elements.Symbol));

    /// <summary>The <c>graph_config</c> object.</summary>
    public JsonObject ToJson() => new()
    {
        ["model_type"] = "gin",
        ["hidden_size"] = HiddenSize,
        ["num_layers"] = Layers,
        ["elements"] = ElementList,
        ["readout"] = "sum",
        ["graph_projector_type"] = ProjectorType,
    };
}
