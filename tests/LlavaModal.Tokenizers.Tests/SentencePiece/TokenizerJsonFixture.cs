using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlavaModal.Tokenizers.Tests.SentencePiece;

/// <summary>
/// The SentencePiece-style <c>tokenizer.json</c> fixtures (<c>tests/fixtures/tokenizer-json</c>): Mistral-7B's real
/// file with its expected ids from the reference, and the repository's own SentencePiece model converted.
/// </summary>
static class TokenizerJsonFixture
{
    public static string Mistral => TokenizerFixtures.Dir(Path.Combine("tokenizer-json", "mistral-7b"));

    public static string Converted => TokenizerFixtures.Dir(Path.Combine("tokenizer-json", "sp-converted"));

    public static readonly Lazy<JsonDocument> MistralCases = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Mistral, "cases.json"))));

    public static readonly Lazy<JsonDocument> ConvertedCases = new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Converted, "cases.json"))));

    public static readonly Lazy<HfTokenizer> ConvertedTokenizer = new(() => HfTokenizer.FromPretrained(Converted));

    static readonly Dictionary<string, HfTokenizer> Variants = [];

    /// <summary>The Mistral tokenizer with the fixture's edit of one variant applied (the reference rendered the same edit).</summary>
    public static HfTokenizer MistralVariant(string variant)
    {
        lock (Variants)
        {
            if (Variants.TryGetValue(variant, out HfTokenizer? cached))
            {
                return cached;
            }

            JsonElement edit = Variant(variant).GetProperty("edit");
            HfTokenizer tokenizer;
            if (edit.ValueKind == JsonValueKind.Null)
            {
                tokenizer = HfTokenizer.FromPretrained(Mistral);
            }
            else
            {
                JsonObject json = JsonNode.Parse(File.ReadAllText(Path.Combine(Mistral, "tokenizer.json")))!.AsObject();
                foreach (JsonProperty property in edit.EnumerateObject())
                {
                    json[property.Name] = JsonNode.Parse(property.Value.GetRawText());
                }

                string dir = WriteFolder(json, File.ReadAllText(Path.Combine(Mistral, "tokenizer_config.json")));
                tokenizer = HfTokenizer.FromPretrained(dir);
                Directory.Delete(dir, recursive: true);
            }

            Variants[variant] = tokenizer;
            return tokenizer;
        }
    }

    public static JsonElement Variant(string variant) => MistralCases.Value.RootElement.GetProperty("variants").GetProperty(variant);

    public static IEnumerable<object[]> MistralRows(string variant) =>
        Enumerable.Range(0, Variant(variant).GetProperty("cases").GetArrayLength()).Select(i => new object[] { variant, i });

    /// <summary>A temporary folder holding <paramref name="json"/> as tokenizer.json and an optional config.</summary>
    public static string WriteFolder(JsonNode json, string? config, params (string Name, string Text)[] extra)
    {
        string dir = Path.Combine(Path.GetTempPath(), "llavamodal-spjson-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        if (config is not null)
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config);
        }

        foreach ((string name, string text) in extra)
        {
            File.WriteAllText(Path.Combine(dir, name), text);
        }

        return dir;
    }

    /// <summary>The converted (small) file as an editable tree.</summary>
    public static JsonObject ConvertedJson() => JsonNode.Parse(File.ReadAllText(Path.Combine(Converted, "tokenizer.json")))!.AsObject();
}
