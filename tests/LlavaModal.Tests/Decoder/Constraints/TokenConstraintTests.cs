using System.Diagnostics;
using System.Text.Json;
using LlavaModal.Decoder.Generation.Constraints;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Decoder.Constraints;

/// <summary>
/// Constrained decoding over real vocabularies without a model: random logits, restricted, then the best token taken,
/// step after step. Whatever the logits, the decoded text parses and validates, ends by itself or is closed in time.
/// </summary>
public class TokenConstraintTests(Xunit.Abstractions.ITestOutputHelper output)
{
    const string Schema = """
        {"type":"object","properties":{
           "title":{"type":"string","maxLength":12},
           "count":{"type":"integer","minimum":0},
           "ratio":{"type":"number"},
           "labels":{"type":"array","items":{"enum":["red","green","blue"]},"maxItems":3},
           "done":{"type":["boolean","null"]}},
         "required":["title","count","labels"]}
        """;

    public static TheoryData<string> Tokenizers => ["llama-tiny (SentencePiece)", "mistral-7b (tokenizer.json, 32k)", "byte-level BPE"];

    static HfTokenizer Load(string name) => name switch
    {
        "llama-tiny (SentencePiece)" => HfTokenizer.FromPretrained(Fixtures.LlamaTiny),
        "mistral-7b (tokenizer.json, 32k)" => HfTokenizer.FromPretrained(Fixtures.Path_("tokenizer-json", "mistral-7b")),
        _ => SyntheticByteLevelTokenizer.Create(merges: 400, seed: 3),
    };

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Outputs_under_random_logits_parse_and_match_the_schema(string name)
    {
        var tokenizer = Load(name);
        int end = tokenizer.EosTokenId!.Value;
        foreach (var (grammar, schema) in new[] { (OutputGrammar.JsonObject(), (string?)null), (OutputGrammar.FromJsonSchema(Schema), Schema) })
        {
            var clock = Stopwatch.StartNew();
            int tokens = 0, ended = 0;
            for (int seed = 0; seed < 12; seed++)
            {
                var (ids, stopped) = Walk(grammar, tokenizer, end, maxTokens: 160, seed);
                tokens += ids.Count;
                ended += stopped ? 1 : 0;
                string text = tokenizer.Decode(ids, skipSpecialTokens: true);
                using var document = JsonDocument.Parse(text);
                Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
                if (schema is not null) Assert.True(OutputGrammarTests.Validates(schema, text), text);
            }
            output.WriteLine($"{name}, {grammar}: {tokens} tokens, {ended}/12 ended by the end token, {clock.Elapsed.TotalMilliseconds / tokens:F2} ms per token");
        }
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void A_tight_token_limit_still_closes_the_document(string name)
    {
        var tokenizer = Load(name);
        int end = tokenizer.EosTokenId!.Value;
        var grammar = OutputGrammar.FromJsonSchema(Schema);
        // {"title":"","count":0,"labels":[]} is 35 bytes: any limit from there gives a whole document.
        foreach (int limit in new[] { 35, 36, 40, 50 })
        {
            for (int seed = 0; seed < 4; seed++)
            {
                var (ids, _) = Walk(grammar, tokenizer, end, limit, seed);
                Assert.True(ids.Count <= limit);
                string text = tokenizer.Decode(ids, skipSpecialTokens: true);
                Assert.True(OutputGrammarTests.Validates(Schema, text), $"limit {limit}, seed {seed}: {text}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Text_bytes_are_what_decoding_appends_and_special_tokens_have_none(string name)
    {
        var tokenizer = Load(name);
        int anchor = tokenizer.Encode("x", addSpecialTokens: false)[^1];
        string prefix = tokenizer.Decode([anchor]);
        var strict = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true);
        int checkedTokens = 0;
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            var bytes = tokenizer.TextBytes(id);
            if (tokenizer.IsSpecial(id) || tokenizer.AddedTokens.Values.Contains(id)) Assert.Null(bytes);
            if (bytes is null) continue;
            string text;
            try { text = strict.GetString(bytes); }
            catch (System.Text.DecoderFallbackException) { continue; } // a piece of a character: checked by the walks above
            Assert.Equal(prefix + text, tokenizer.Decode([anchor, id]));
            checkedTokens++;
        }
        Assert.True(checkedTokens > tokenizer.VocabSize / 2, $"{checkedTokens} of {tokenizer.VocabSize} checked");
    }

    /// <summary>Greedy over random logits restricted by the grammar until the end token or the limit.</summary>
    static (List<int> Ids, bool Ended) Walk(OutputGrammar grammar, HfTokenizer tokenizer, int end, int maxTokens, int seed)
    {
        var constraint = grammar.Start(tokenizer, [end]);
        using var generator = new Generator((ulong)seed);
        var ids = new List<int>();
        while (ids.Count < maxTokens)
        {
            using var scope = NewDisposeScope();
            var logits = randn([1, tokenizer.VocabSize], generator: generator);
            constraint.Restrict(logits, maxTokens - ids.Count);
            int id = (int)logits.argmax(-1).item<long>();
            constraint.Accept(id);
            if (id == end) return (ids, true);
            ids.Add(id);
        }
        Assert.True(constraint.IsComplete, "the limit was reached with an unfinished document");
        return (ids, false);
    }
}
