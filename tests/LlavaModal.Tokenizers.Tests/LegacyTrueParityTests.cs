using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlavaModal.Tokenizers.Tests;

/// <summary>The same files loaded with <c>legacy=true</c> (column <c>hf_legacy_true_ids_add_special_true</c>).</summary>
public class LegacyTrueParityTests
{
    static readonly Lazy<HfTokenizer> Legacy = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("hftok-legacy-").FullName;
        string source = TokenizerFixtures.Dir("tokenizer-cases");
        foreach (string f in new[] { "tokenizer.model", "special_tokens_map.json", "added_tokens.json" })
        {
            File.Copy(Path.Combine(source, f), Path.Combine(dir, f));
        }

        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer_config.json")))!;
        config["legacy"] = true;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        HfTokenizer tokenizer = HfTokenizer.FromPretrained(dir);
        Directory.Delete(dir, recursive: true);
        return tokenizer;
    });

    public static IEnumerable<object[]> Cases() => TokenizerFixtures.CaseRows();

    [Theory]
    [MemberData(nameof(Cases))]
    public void EncodeWithSpecialTokens(int index, string label)
    {
        JsonElement c = TokenizerFixtures.Case(index);
        int[] expected = TokenizerFixtures.Ints(c.GetProperty("hf_legacy_true_ids_add_special_true"));
        IReadOnlyList<int> actual = Legacy.Value.Encode(c.GetProperty("text").GetString()!);
        Assert.True(expected.SequenceEqual(actual), $"{label}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
    }
}
