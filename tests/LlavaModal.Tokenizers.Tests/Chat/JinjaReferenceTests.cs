using System.Text.Json;
using LlavaModal.Tokenizers.Chat;
using LlavaModal.Tokenizers.Chat.Jinja;

namespace LlavaModal.Tokenizers.Tests.Chat;

/// <summary>
/// The Jinja engine against the reference (<c>@huggingface/jinja</c>): the chat templates real checkpoints ship, on
/// several conversations each; the reference package's own end-to-end set of public templates; and one small
/// template per supported construct.
/// </summary>
public sealed class JinjaReferenceTests
{
    public static IEnumerable<object[]> RenderRows() => ChatTemplateFixtures.RenderRows();

    public static IEnumerable<object[]> E2eRows() => ChatTemplateFixtures.E2eRows();

    public static IEnumerable<object[]> ConstructRows() => ChatTemplateFixtures.ConstructRows();

    [Theory]
    [MemberData(nameof(RenderRows))]
    public void CheckpointTemplatesRenderAsTheReference(int index, string label)
    {
        JsonElement c = ChatTemplateFixtures.Render(index);
        (string source, _) = ChatTemplateFixtures.Template(c.GetProperty("template").GetString()!);
        var variables = ChatTemplateFixtures.Variables(c.GetProperty("special_tokens"));
        variables["messages"] = JinjaJson.FromJson(c.GetProperty("messages"));
        variables["add_generation_prompt"] = c.GetProperty("add_generation_prompt").GetBoolean();
        var template = new JinjaTemplate(source, label);
        if (c.TryGetProperty("error", out JsonElement error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => template.Render(variables));
            Assert.True(e.RaisedByTemplate);
            Assert.Equal(error.GetString(), e.Problem);
        }
        else
        {
            Assert.Equal(c.GetProperty("expected").GetString(), template.Render(variables));
        }
    }

    /// <summary>
    /// Where the JavaScript reference is not what transformers' Python Jinja renders, this renderer follows Python.
    /// Hammer2.1 prints a list of dicts with <c>{{ }}</c>: Python writes its repr (<c>{'type': ...}</c>), the reference JSON.
    /// </summary>
    static readonly Dictionary<string, string> PythonDivergences = new()
    {
        ["custom:MadeAgents/Hammer2.1"] = "[{'type': 'function', 'function': {'name': ",
    };

    [Theory]
    [MemberData(nameof(E2eRows))]
    public void PublicTemplatesRenderAsTheReference(int index, string name)
    {
        JsonElement c = ChatTemplateFixtures.E2e(index);
        var template = new JinjaTemplate(c.GetProperty("template").GetString()!, name);
        string rendered = template.Render(ChatTemplateFixtures.Variables(c.GetProperty("data")));
        if (PythonDivergences.TryGetValue(name, out string? pythonRepr))
        {
            Assert.Contains(pythonRepr, rendered, StringComparison.Ordinal);
            return;
        }

        string expected = c.GetProperty("expected").GetString()!;
        // A template that prints today's date (strftime_now) was rendered by the reference on its day: compare with dates masked.
        if (c.GetProperty("template").GetString()!.Contains("strftime_now", StringComparison.Ordinal))
            (expected, rendered) = (MaskDates(expected), MaskDates(rendered));
        Assert.Equal(expected, rendered);
    }

    static string MaskDates(string text) => System.Text.RegularExpressions.Regex.Replace(text,
        @"\b\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4}\b", "<today>");

    [Theory]
    [MemberData(nameof(ConstructRows))]
    public void EachConstructRendersAsTheReference(int index, string name)
    {
        JsonElement c = ChatTemplateFixtures.Construct(index);
        var template = new JinjaTemplate(c.GetProperty("template").GetString()!, name);
        var variables = ChatTemplateFixtures.Variables(c.GetProperty("data"));
        if (c.TryGetProperty("error", out JsonElement error))
        {
            var e = Assert.Throws<ChatTemplateException>(() => template.Render(variables));
            Assert.True(e.RaisedByTemplate);
            Assert.Equal(error.GetString(), e.Problem);
        }
        else
        {
            Assert.Equal(c.GetProperty("expected").GetString(), template.Render(variables));
        }
    }
}
