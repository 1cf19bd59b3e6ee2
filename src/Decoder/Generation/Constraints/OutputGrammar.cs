using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using LlavaModal.Tokenizers;

namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>
/// The shape generated text must take, enforced while decoding: at each step only tokens that keep the output a
/// prefix of the grammar can be chosen, end-of-sequence only once it is whole, and near the token limit only tokens
/// after which it can still be finished, so the output always parses unless the limit is below the shortest output.
/// Set it on <see cref="GenerationOptions.OutputGrammar"/>. Instances are immutable and may be shared; the work of matching
/// them against a tokenizer's vocabulary is cached on the instance, so reuse one per schema.
/// </summary>
public sealed class OutputGrammar
{
    static readonly Lazy<OutputGrammar> AnyJsonObject = new(() => new OutputGrammar(JsonSchemaGrammar.AnyObject(), "a JSON object"));
    static readonly ConcurrentDictionary<string, OutputGrammar> Schemas = new(StringComparer.Ordinal);
    const int MaxCachedSchemas = 64;

    readonly Grammar grammar;
    readonly ConditionalWeakTable<TokenVocabulary, GrammarMatcher> matchers = [];

    OutputGrammar(Grammar grammar, string description)
    {
        this.grammar = grammar;
        Description = description;
    }

    /// <summary>What the grammar produces, for messages.</summary>
    public string Description { get; }

    /// <summary>Any JSON object (OpenAI's <c>json_object</c> response format).</summary>
    public static OutputGrammar JsonObject() => AnyJsonObject.Value;

    /// <summary>
    /// JSON that validates against <paramref name="schema"/>. Supported: <c>type</c> (one or a list), <c>properties</c>
    /// (written in the schema's order; those not in <c>required</c> may be left out; no others), <c>additionalProperties</c>
    /// (a schema, for objects without <c>properties</c>), <c>items</c>, <c>minItems</c>/<c>maxItems</c>, <c>enum</c>,
    /// <c>const</c>, <c>anyOf</c>/<c>oneOf</c> (as alternatives), <c>allOf</c> of one schema, <c>$ref</c> into <c>$defs</c>
    /// or <c>definitions</c> (recursion allowed), <c>minLength</c>/<c>maxLength</c>, the string formats <c>date</c>,
    /// <c>date-time</c> and <c>uuid</c>, <c>minimum</c>/<c>maximum</c>/<c>exclusiveMinimum</c>/<c>exclusiveMaximum</c>
    /// exactly on integers, and whole-number <c>minimum</c>/<c>maximum</c> on numbers. Integers without a bound have at
    /// most 9 digits on that side (so they fit an <c>int</c>), numbers at most 15 digits before and after the point;
    /// whitespace between tokens is limited to 16 characters. Annotations (<c>description</c>,
    /// <c>title</c>, <c>default</c>, other formats) are ignored.
    /// </summary>
    /// <exception cref="NotSupportedException">A keyword that would change which documents are valid is not supported (the message names it and where).</exception>
    /// <exception cref="ArgumentException">The schema is malformed (a bad <c>$ref</c>, <c>false</c>, a wrong keyword type).</exception>
    public static OutputGrammar FromJsonSchema(JsonElement schema)
    {
        string key = schema.GetRawText();
        if (Schemas.TryGetValue(key, out var known)) return known;
        var built = new OutputGrammar(JsonSchemaGrammar.FromSchema(schema), "JSON matching the schema");
        if (Schemas.Count >= MaxCachedSchemas) Schemas.Clear();
        return Schemas.GetOrAdd(key, built);
    }

    /// <inheritdoc cref="FromJsonSchema(JsonElement)"/>
    /// <param name="schema">The schema as JSON text.</param>
    public static OutputGrammar FromJsonSchema(string schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        using var document = JsonDocument.Parse(schema);
        return FromJsonSchema(document.RootElement);
    }

    /// <summary>Whether <paramref name="text"/> is a whole output of this grammar.</summary>
    public bool IsMatch(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var matcher = new GrammarMatcher(grammar, TokenVocabulary.Empty);
        return matcher.Advance(matcher.Start, Encoding.UTF8.GetBytes(text)).Accepts;
    }

    /// <summary>A fresh constraint for one sequence decoded with <paramref name="tokenizer"/>.</summary>
    internal TokenConstraint Start(HfTokenizer tokenizer, IReadOnlyCollection<int> endIds)
    {
        var vocabulary = TokenVocabulary.For(tokenizer);
        return new TokenConstraint(matchers.GetValue(vocabulary, v => new GrammarMatcher(grammar, v)), tokenizer, endIds);
    }

    /// <inheritdoc />
    public override string ToString() => Description;
}
