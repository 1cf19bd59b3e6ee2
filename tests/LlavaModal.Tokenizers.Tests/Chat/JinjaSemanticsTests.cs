using LlavaModal.Tokenizers.Chat;
using LlavaModal.Tokenizers.Chat.Jinja;

namespace LlavaModal.Tokenizers.Tests.Chat;

/// <summary>
/// Behaviour where the JavaScript reference differs from the Python Jinja transformers renders with (or lacks the
/// feature), so the expected values are Python's (Jinja 3.1 with HF's settings), written out here; and the errors.
/// </summary>
public sealed class JinjaSemanticsTests
{
    static string Render(string template, object? data = null)
    {
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (data is not null)
        {
            foreach (var property in data.GetType().GetProperties())
            {
                variables[property.Name] = ToJinja(property.GetValue(data));
            }
        }

        return new JinjaTemplate(template, "test").Render(variables);
    }

    static object? ToJinja(object? value) => value switch
    {
        int i => (long)i,
        string or bool or long or double or null => value,
        System.Collections.IDictionary d => d.Keys.Cast<object>().Aggregate(new JinjaDict(), (acc, k) =>
        {
            acc[k] = ToJinja(d[k]);
            return acc;
        }),
        System.Collections.IEnumerable e => e.Cast<object?>().Select(ToJinja).ToList(),
        _ => throw new ArgumentException(value.GetType().Name),
    };

    static ChatTemplateException Fails(string template, object? data = null) =>
        Assert.Throws<ChatTemplateException>(() => Render(template, data));

    [Theory]
    [InlineData("{{ true }} {{ false }} {{ none }}", "True False None")]
    [InlineData("{{ [1, 'a', none, true] }}", "[1, 'a', None, True]")]
    [InlineData("{{ {'k': 'v', 'n': 1.5} }}", "{'k': 'v', 'n': 1.5}")]
    [InlineData("{{ ('a',) }} {{ (1, 2) }}", "('a',) (1, 2)")]
    [InlineData("{{ \"it's\" ~ [\"it's\"] }}", "it's[\"it's\"]")]
    [InlineData("{{ 4 / 2 }} {{ 1e-5 }} {{ 1e16 }} {{ 0.1 + 0.2 }} {{ 2.0 * 3 }}", "2.0 1e-05 1e+16 0.30000000000000004 6.0")]
    public void ValuesPrintAsPythonStr(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ -7 % 3 }} {{ 7 % -3 }} {{ -7 // 2 }} {{ -7.5 // 2 }}", "2 -2 -4 -4.0")]
    [InlineData("{{ 'ab' * 3 }} {{ [0] * 2 }}", "ababab [0, 0]")]
    [InlineData("{{ 'a' < 'b' }} {{ 'B' < 'a' }} {{ [1, 2] < [1, 3] }}", "True True True")]
    [InlineData("{{ 'a' ~ missing ~ 'b' ~ none }}", "abNone")]
    [InlineData("{{ missing }}|{{ missing|length }}|{% for x in missing %}x{% endfor %}|{{ missing is defined }}", "|0||False")]
    [InlineData("{{ 3.5 is float }} {{ 3 is float }} {{ 9 is divisibleby 3 }} {{ 'a' is in 'abc' }} {{ none is sameas none }}", "True False True True True")]
    [InlineData("{{ 1 if false }}|{{ 'x' if true }}", "|x")]
    public void OperatorsAndTestsFollowPython(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ 'xxhixx'.strip('x') }} {{ '--a--'.lstrip('-') }} {{ '--a--'.rstrip('-') }}", "hi a-- --a")]
    [InlineData("{{ 'hello wORLD'.title() }} {{ 'hello wORLD'|title }} {{ 'hello WORLD'|capitalize }} {{ 'hello WORLD'.capitalize() }}", "Hello World Hello World Hello world Hello world")]
    [InlineData("{{ 'a,b,,c'.split(',') }} {{ 'a b  c'.split(None, 1) }} {{ 'x'.startswith(('a', 'x')) }}", "['a', 'b', '', 'c'] ['a', 'b  c'] True")]
    [InlineData("{{ '{} and {name}'.format(1, name='x') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'abcabc'.count('bc') }} {{ 'abc'.find('c') }}", "1 and x bba 2 2")]
    public void StringMethodsFollowPython(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ [1, 2, 3]|sum }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }}", "3 1 6 [2, 1] cba")]
    [InlineData("{{ missing|d('x') }} {{ none|default('y') }} {{ 'ab'|list }} {{ {'a': 1}|items|list }}", "x None ['a', 'b'] [('a', 1)]")]
    [InlineData("{{ ['b', 'A', 'a']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ ['a', 'A', 'b']|unique|list }}", "['A', 'a', 'b'] ['A', 'a', 'b'] ['a', 'b']")]
    [InlineData("{{ '<a href=\"x\">&\\'</a>'|escape }} {{ 'x'|safe }}", "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; x")]
    [InlineData("{{ 'a\\nb'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}", "a\n  b|  a\n  b")]
    [InlineData("{{ 2.5|round }} {{ 3.14159|round(2) }} {{ -3|abs }} {{ '7'|int * 2 }} {{ 'x'|int(5) }}", "2.0 3.14 3 14 5")]
    [InlineData("{{ {'b': 1, 'a': [1, 'é']}|tojson(sort_keys=true) }} {{ 'é'|tojson(ensure_ascii=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }}", "{\"a\": [1, \"é\"], \"b\": 1} \"\\u00e9\" [1,2]")]
    [InlineData("{{ [{'a': {'b': 1}}, {'a': {'b': 2}}]|map(attribute='a.b')|list }} {{ ['a', 'b']|map('upper')|join }}", "[1, 2] AB")]
    public void FiltersFollowJinja(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{% for x in [1, 2] %}{% set y = x %}{% endfor %}{{ y is defined }}", "False")]
    [InlineData("{% if true %}{% set y = 1 %}{% endif %}{{ y }}", "1")]
    [InlineData("{% set a, b = 1, 2 %}{{ a + b }}", "3")]
    [InlineData("{% macro m(x) %}{{ x }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}", "1[2]{'k': 3}")]
    [InlineData("{% macro outer() %}{{ caller('z') }}{% endmacro %}{% call(v) outer() %}[{{ v }}]{% endcall %}", "[z]")]
    [InlineData("{% filter upper %}a{{ 'b' }}{% endfilter %}", "AB")]
    [InlineData("{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}")]
    [InlineData("{% for x in 'ab' %}{{ loop.cycle('o', 'e') }}{{ loop.previtem is defined }}{% endfor %}", "oFalseeTrue")]
    [InlineData("{%+ if true %}\n  x\n  {%+ endif +%}\ny", "  x\n  \ny")]
    [InlineData("line\n", "line")]
    [InlineData("a\r\nb{% if true %}\r\nc{% endif %}", "a\nbc")]
    public void StatementsFollowJinja(string template, string expected) => Assert.Equal(expected, Render(template));

    [Fact]
    public void AnUndefinedAttributeOfAnUndefinedValueIsAnError()
    {
        var e = Fails("{{ messages[0].missing.deeper }}", new { messages = new[] { new Dictionary<string, object> { ["role"] = "user" } } });
        Assert.Equal("'dict object' has no attribute 'missing'", e.Problem);
        Assert.Equal((1, 23), (e.Line, e.Column));
    }

    [Theory]
    [InlineData("{{ x|nosuchfilter }}", "no filter named 'nosuchfilter'")]
    [InlineData("{{ x is nosuchtest }}", "no test named 'nosuchtest'")]
    [InlineData("{{ [1].append(2) }}", "immutable sandbox")]
    [InlineData("{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'")]
    [InlineData("{{ 1 // 0 }}", "integer division or modulo by zero")]
    [InlineData("{% set x = 1 %}{% set x.y = 2 %}", "only namespace() objects take attributes")]
    [InlineData("{{ nothing() }}", "'nothing' is undefined; it cannot be called")]
    [InlineData("{% for a, b in [1] %}{% endfor %}", "'int' object is not iterable")]
    [InlineData("{{ range(200000)|length }}", "range() is limited")]
    [InlineData("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursed more than")]
    public void RuntimeErrorsAreTyped(string template, string problem) =>
        Assert.Contains(problem, Fails(template, new { x = 1 }).Problem, StringComparison.Ordinal);

    [Theory]
    [InlineData("{% extends 'base.html' %}", 1, 4, "'{% extends %}' is not supported")]
    [InlineData("a\n{% with x = 1 %}{% endwith %}", 2, 4, "'{% with %}' is not supported")]
    [InlineData("{% for x in y recursive %}{% endfor %}", 1, 15, "recursive loops are not supported")]
    [InlineData("{% frobnicate %}", 1, 4, "unknown statement")]
    [InlineData("{{ x", 1, 1, "not closed")]
    [InlineData("{% if x %}never closed", 1, 23, "ended before '{% endif %}'")]
    [InlineData("{% endfor %}", 1, 4, "unexpected '{% endfor %}'")]
    [InlineData("{{ 'unterminated }}", 1, 4, "string literal is not closed")]
    [InlineData("{{ 1 +* 2 }}", 1, 7, "unexpected '*'")]
    [InlineData("{# no end", 1, 1, "comment is not closed")]
    public void SyntaxErrorsNameLineAndColumn(string template, int line, int column, string problem)
    {
        var e = Assert.Throws<ChatTemplateException>(() => new JinjaTemplate(template, "'/m/tokenizer_config.json' (chat_template)"));
        Assert.Contains(problem, e.Problem, StringComparison.Ordinal);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.Contains("'/m/tokenizer_config.json' (chat_template)", e.Message, StringComparison.Ordinal);
        Assert.Contains($"line {line}, column {column}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessage()
    {
        var e = Fails("x\n  {{ raise_exception('Only user and assistant roles are supported!') }}");
        Assert.True(e.RaisedByTemplate);
        Assert.Equal("Only user and assistant roles are supported!", e.Problem);
        Assert.Equal(2, e.Line);
        Assert.Contains("refused the conversation: Only user and assistant roles are supported!", e.Message, StringComparison.Ordinal);
    }
}
