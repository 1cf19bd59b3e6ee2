using System.Text.Json;

namespace LlavaModal.Tokenizers.Tests;

/// <summary>Paths, the shared tokenizer instances and the parsed <c>cases.json</c> of the tokenizer fixtures.</summary>
static class TokenizerFixtures
{
    public static string Dir(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", name);

    public static readonly Lazy<HfTokenizer> Cases = new(() => HfTokenizer.FromPretrained(Dir("tokenizer-cases")));

    public static readonly Lazy<HfTokenizer> LlamaTiny = new(() => HfTokenizer.FromPretrained(Dir("llama-tiny")));

    public static readonly Lazy<HfTokenizer> LlavaTiny = new(() => HfTokenizer.FromPretrained(Dir("llava-tiny-a")));

    static readonly Lazy<JsonDocument> CasesJson =
        new(() => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir("tokenizer-cases"), "cases.json"))));

    public static JsonElement Case(int index) => CasesJson.Value.RootElement.GetProperty("cases")[index];

    public static int CaseCount => CasesJson.Value.RootElement.GetProperty("cases").GetArrayLength();

    /// <summary>xunit rows (index, readable label) so every failure names its case.</summary>
    public static IEnumerable<object[]> CaseRows() =>
        Enumerable.Range(0, CaseCount).Select(i => new object[] { i, Label(Case(i).GetProperty("text").GetString()!) });

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    static string Label(string text)
    {
        string escaped = JsonSerializer.Serialize(text);
        return escaped.Length > 40 ? escaped[..40] + "…" : escaped;
    }
}
