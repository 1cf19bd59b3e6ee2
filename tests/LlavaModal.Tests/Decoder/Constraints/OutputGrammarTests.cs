using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlavaModal.Decoder.Generation.Constraints;

namespace LlavaModal.Tests.Decoder.Constraints;

/// <summary>The JSON and JSON-schema grammars accept exactly the documents they should, and every prefix of one stays alive.</summary>
public class OutputGrammarTests
{
    static readonly OutputGrammar Json = OutputGrammar.JsonObject();

    [Theory]
    [InlineData("{}")]
    [InlineData("{ }")]
    [InlineData("{\"a\":1}")]
    [InlineData("{\"a\": [1, -2.5e3, 0.25, true, false, null, \"x\"], \"b\": {\"c\": {}}}")]
    [InlineData("{\n  \"name\": \"Ünïcødé 日本 🎉\",\n  \"esc\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uFFFF\"\n}")]
    [InlineData("{\"n\":-0,\"m\":0.5,\"e\":1E+2,\"f\":1e-99}")]
    public void Valid_json_objects_match(string text)
    {
        JsonDocument.Parse(text).Dispose();
        Assert.True(Json.IsMatch(text), text);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("1")]
    [InlineData("\"x\"")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{'a':1}")]
    [InlineData("{\"a\":01}")]
    [InlineData("{\"a\":1.}")]
    [InlineData("{\"a\":NaN}")]
    [InlineData("{\"a\":\"\\uD800\"}")]
    [InlineData("{\"a\":\"\\x\"}")]
    [InlineData("{\"a\":\"tab\there\"}")]
    [InlineData("{\"a\":1} ")]
    [InlineData("{\"a\" 1}")]
    [InlineData("{\"a\":1")]
    public void Invalid_or_non_object_texts_do_not_match(string text) => Assert.False(Json.IsMatch(text), text);

    [Fact]
    public void Random_documents_match_and_every_prefix_stays_alive()
    {
        var random = new Random(7);
        var grammar = JsonSchemaGrammar.AnyObject();
        var matcher = new GrammarMatcher(grammar, TokenVocabulary.Empty);
        for (int n = 0; n < 200; n++)
        {
            var node = RandomObject(random, 0);
            string text = node.ToJsonString(new JsonSerializerOptions { WriteIndented = random.Next(2) == 0, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            var state = matcher.Start;
            var bytes = Encoding.UTF8.GetBytes(text);
            for (int i = 0; i < bytes.Length; i++)
            {
                state = matcher.Advance(state, bytes.AsSpan(i, 1));
                Assert.False(state.IsDead, $"dead after {i + 1} bytes of {text}");
                Assert.Equal(i == bytes.Length - 1, state.Accepts);
            }
        }
    }

    [Fact]
    public void The_shortest_completion_finishes_the_document()
    {
        var matcher = new GrammarMatcher(JsonSchemaGrammar.AnyObject(), TokenVocabulary.Empty);
        Assert.Equal(2, matcher.Start.Completion); // {}
        Assert.Equal(4, matcher.Advance(matcher.Start, "{\"a"u8).Completion); // ":1}  ("a then ": then a 1-byte value, then })
        Assert.Equal(0, matcher.Advance(matcher.Start, "{}"u8).Completion);
        Assert.Equal(3, matcher.Advance(matcher.Start, "{\"a\":[["u8).Completion); // ]]}
    }

    const string Person = """
        {
          "type": "object",
          "properties": {
            "name": { "type": "string", "minLength": 1, "maxLength": 8 },
            "age": { "type": "integer", "minimum": 0 },
            "email": { "type": ["string", "null"] },
            "tags": { "type": "array", "items": { "enum": ["a", "b", 3] }, "minItems": 1, "maxItems": 2 },
            "kind": { "const": "person" }
          },
          "required": ["name", "age", "kind"]
        }
        """;

    [Theory]
    [InlineData("{\"name\":\"Ann\",\"age\":30,\"kind\":\"person\"}")]
    [InlineData("{ \"name\" : \"Ann\" , \"age\" : 0 , \"email\" : null , \"kind\" : \"person\" }")]
    [InlineData("{\"name\":\"A\",\"age\":7,\"email\":\"a@b\",\"tags\":[\"a\",3],\"kind\":\"person\"}")]
    public void Documents_of_the_schema_match(string text)
    {
        Assert.True(OutputGrammar.FromJsonSchema(Person).IsMatch(text), text);
        Assert.True(Validates(Person, text), text);
    }

    [Theory]
    [InlineData("{\"age\":30,\"kind\":\"person\"}")]                                   // required name missing
    [InlineData("{\"name\":\"\",\"age\":30,\"kind\":\"person\"}")]                      // minLength
    [InlineData("{\"name\":\"123456789\",\"age\":30,\"kind\":\"person\"}")]             // maxLength
    [InlineData("{\"name\":\"Ann\",\"age\":-1,\"kind\":\"person\"}")]                   // minimum 0
    [InlineData("{\"name\":\"Ann\",\"age\":1.5,\"kind\":\"person\"}")]                  // integer
    [InlineData("{\"name\":\"Ann\",\"age\":1,\"tags\":[],\"kind\":\"person\"}")]        // minItems
    [InlineData("{\"name\":\"Ann\",\"age\":1,\"tags\":[\"a\",\"b\",3],\"kind\":\"person\"}")] // maxItems
    [InlineData("{\"name\":\"Ann\",\"age\":1,\"tags\":[\"c\"],\"kind\":\"person\"}")]   // enum
    [InlineData("{\"name\":\"Ann\",\"age\":1,\"kind\":\"robot\"}")]                    // const
    [InlineData("{\"name\":\"Ann\",\"age\":1,\"kind\":\"person\",\"x\":1}")]           // no other properties
    public void Documents_breaking_the_schema_do_not_match(string text) => Assert.False(OutputGrammar.FromJsonSchema(Person).IsMatch(text), text);

    [Fact]
    public void Recursive_references_anyOf_and_formats_work()
    {
        const string schema = """
            {
              "$defs": { "node": { "type": "object", "properties": { "v": { "anyOf": [{ "type": "boolean" }, { "type": "string", "format": "date" }] },
                                                                     "kids": { "type": "array", "items": { "$ref": "#/$defs/node" } } },
                                   "required": ["v", "kids"] } },
              "type": "object", "properties": { "root": { "$ref": "#/$defs/node" }, "id": { "type": "string", "format": "uuid" },
                                                "at": { "type": "string", "format": "date-time" } },
              "required": ["root", "id", "at"]
            }
            """;
        var grammar = OutputGrammar.FromJsonSchema(schema);
        string good = "{\"root\":{\"v\":\"2024-02-28\",\"kids\":[{\"v\":true,\"kids\":[]}]},\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"at\":\"2024-12-31T23:59:59.5+01:00\"}";
        Assert.True(grammar.IsMatch(good));
        Assert.True(Validates(schema, good));
        Assert.False(grammar.IsMatch(good.Replace("2024-02-28", "2024-02-30", StringComparison.Ordinal)));
        Assert.False(grammar.IsMatch(good.Replace("T23:59", "T24:59", StringComparison.Ordinal)));
        Assert.False(grammar.IsMatch(good.Replace("0f8fad5b", "0f8fad5", StringComparison.Ordinal)));
    }

    [Fact]
    public void Integers_are_bounded_to_fit_int32_unless_the_schema_allows_more()
    {
        var plain = OutputGrammar.FromJsonSchema("""{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}""");
        Assert.True(plain.IsMatch("{\"n\":-999999999}"));
        Assert.False(plain.IsMatch("{\"n\":9999999999}"));
        var wide = OutputGrammar.FromJsonSchema("""{"type":"object","properties":{"n":{"type":"integer","minimum":-1e12,"maximum":1e12}},"required":["n"]}""");
        Assert.True(wide.IsMatch("{\"n\":999999999999}"));
    }

    [Theory]
    [InlineData(-13, 127, false)]
    [InlineData(0, 8, false)]
    [InlineData(-250, -7, false)]
    [InlineData(5, 1000, true)]
    public void Integer_bounds_admit_exactly_the_integers_in_range(int low, int high, bool exclusive)
    {
        string bounds = exclusive ? $"\"exclusiveMinimum\":{low - 1},\"exclusiveMaximum\":{high + 1}" : $"\"minimum\":{low},\"maximum\":{high}";
        var grammar = OutputGrammar.FromJsonSchema($"{{\"type\":\"object\",\"properties\":{{\"n\":{{\"type\":\"integer\",{bounds}}}}},\"required\":[\"n\"]}}");
        for (int n = low - 300; n <= high + 300; n++) Assert.Equal(n >= low && n <= high, grammar.IsMatch($"{{\"n\":{n}}}"));
        Assert.False(grammar.IsMatch($"{{\"n\":0{low}}}"));
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("0.5", true)]
    [InlineData("1", true)]
    [InlineData("1.000", true)]
    [InlineData("1.5", false)]
    [InlineData("1.01", false)]
    [InlineData("-0.1", false)]
    [InlineData("2", false)]
    [InlineData("5e-1", false)]
    public void Number_bounds_hold_with_fractions(string number, bool inside)
    {
        var grammar = OutputGrammar.FromJsonSchema("""{"type":"object","properties":{"p":{"type":"number","minimum":0,"maximum":1}},"required":["p"]}""");
        Assert.Equal(inside, grammar.IsMatch($"{{\"p\":{number}}}"));
    }

    [Theory]
    [InlineData("""{"type":"string","pattern":"^a+$"}""", "pattern", "#")]
    [InlineData("""{"type":"object","properties":{"x":{"not":{"type":"null"}}}}""", "not", "#/properties/x")]
    [InlineData("""{"$ref":"https://example.com/s.json"}""", "https://example.com/s.json", "#")]
    [InlineData("""{"type":"object","properties":{"a":{}},"required":["b"]}""", "'b'", "#/required")]
    public void Unsupported_keywords_name_themselves_and_where(string schema, string keyword, string path)
    {
        var e = Assert.Throws<NotSupportedException>(() => OutputGrammar.FromJsonSchema(schema));
        Assert.Contains(keyword, e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{path}", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("false", "#")]
    [InlineData("""{"type":"strnig"}""", "#/type")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "#/$ref")]
    [InlineData("""{"type":"array","minItems":3,"maxItems":2}""", "#")]
    public void Malformed_schemas_are_argument_errors_naming_the_place(string schema, string path)
    {
        var e = Assert.Throws<ArgumentException>(() => OutputGrammar.FromJsonSchema(schema));
        Assert.Contains($"'{path}'", e.Message, StringComparison.Ordinal);
    }

    internal static bool Validates(string schema, string text)
    {
        var compiled = global::Json.Schema.JsonSchema.FromText(schema);
        using var document = JsonDocument.Parse(text);
        return compiled.Evaluate(document.RootElement).IsValid;
    }

    static JsonObject RandomObject(Random random, int depth)
    {
        var o = new JsonObject();
        int count = random.Next(depth > 2 ? 2 : 5);
        for (int i = 0; i < count; i++) o[RandomString(random) + i] = RandomValue(random, depth + 1);
        return o;
    }

    static JsonNode? RandomValue(Random random, int depth) => random.Next(depth > 3 ? 5 : 7) switch
    {
        0 => JsonValue.Create(RandomString(random)),
        1 => JsonValue.Create(random.Next(-100000, 100000)),
        2 => JsonValue.Create(Math.Round((random.NextDouble() - 0.5) * 1e6, random.Next(6))),
        3 => JsonValue.Create(random.Next(2) == 0),
        4 => null,
        5 => RandomObject(random, depth),
        _ => new JsonArray([.. Enumerable.Range(0, random.Next(4)).Select(_ => RandomValue(random, depth + 1))]),
    };

    static string RandomString(Random random)
    {
        const string alphabet = "abc XYZ019\"\\/\n\t\u00e9\u65e5\U0001F389\u0001";
        var text = new StringBuilder();
        for (int i = random.Next(8); i > 0; i--)
        {
            int k = random.Next(alphabet.Length);
            if (char.IsHighSurrogate(alphabet[k])) text.Append(alphabet, k, 2);
            else if (!char.IsLowSurrogate(alphabet[k])) text.Append(alphabet[k]);
        }
        return text.ToString();
    }
}
