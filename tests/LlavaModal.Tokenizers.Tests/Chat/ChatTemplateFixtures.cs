using System.Text.Json;
using LlavaModal.Tokenizers.Chat.Jinja;

namespace LlavaModal.Tokenizers.Tests.Chat;

/// <summary>The reference renders of <c>tests/fixtures/chat-templates</c> (see its README) and helpers to feed them to the engine.</summary>
static class ChatTemplateFixtures
{
    static string Dir => TokenizerFixtures.Dir("chat-templates");

    static readonly Lazy<JsonDocument> RendersJson = new(() => Load("renders.json"));

    static readonly Lazy<JsonDocument> TemplatesJson = new(() => Load("templates.json"));

    static readonly Lazy<JsonDocument> E2eJson = new(() => Load("e2e.json"));

    static readonly Lazy<JsonDocument> ConstructsJson = new(() => Load("constructs.json"));

    static JsonDocument Load(string name) => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, name)));

    public static JsonElement Render(int i) => RendersJson.Value.RootElement.GetProperty("cases")[i];

    public static JsonElement E2e(int i) => E2eJson.Value.RootElement.GetProperty("cases")[i];

    public static JsonElement Construct(int i) => ConstructsJson.Value.RootElement.GetProperty("cases")[i];

    /// <summary>A real checkpoint template of <c>templates.json</c>: its text and the file it ships in.</summary>
    public static (string Template, string File) Template(string name)
    {
        JsonElement t = TemplatesJson.Value.RootElement.GetProperty(name);
        return (t.GetProperty("template").GetString()!, t.GetProperty("file").GetString()!);
    }

    public static IEnumerable<string> TemplateNames() => TemplatesJson.Value.RootElement.EnumerateObject().Select(p => p.Name);

    public static IEnumerable<object[]> Rows(Lazy<JsonDocument> doc, Func<JsonElement, string> label) =>
        doc.Value.RootElement.GetProperty("cases").EnumerateArray().Select((c, i) => new object[] { i, label(c) });

    public static IEnumerable<object[]> RenderRows() =>
        Rows(RendersJson, c => $"{c.GetProperty("template").GetString()} {c.GetProperty("conversation").GetString()} gen={c.GetProperty("add_generation_prompt").GetBoolean()}");

    public static IEnumerable<object[]> E2eRows() => Rows(E2eJson, c => c.GetProperty("name").GetString()!);

    public static IEnumerable<object[]> ConstructRows() => Rows(ConstructsJson, c => c.GetProperty("name").GetString()!);

    /// <summary>Template variables from a JSON object, as Python's json.loads would give them.</summary>
    public static Dictionary<string, object?> Variables(JsonElement data) =>
        data.EnumerateObject().ToDictionary(p => p.Name, p => JinjaJson.FromJson(p.Value), StringComparer.Ordinal);
}
