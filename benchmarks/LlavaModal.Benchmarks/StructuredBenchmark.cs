using System.Diagnostics;
using LlavaModal.Decoder.Generation.Constraints;
using LlavaModal.Tokenizers;
using static TorchSharp.torch;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>structured</c>: what constrained decoding costs per token: the constraint alone over real vocabularies:
/// random logits restricted, the best token taken, followed: ms per token the first time a grammar meets each parser
/// state (masks computed by walking the vocabulary) and once its states are known (masks cached), less the same loop
/// without a grammar. This is the time each constrained row adds to a decode step.
/// </summary>
static class StructuredBenchmark
{
    const string Schema = """
        {"type":"object","properties":{"title":{"type":"string"},"count":{"type":"integer","minimum":0},
         "labels":{"type":"array","items":{"type":"string"},"minItems":1},"done":{"type":"boolean"}},
         "required":["title","count","labels","done"]}
        """;

    public static int Run(BenchArgs args)
    {
        int tokens = args.Int("--tokens", 96, min: 8);
        int seeds = args.Int("--seeds", 8, min: 1);
        var tokenizers = args.String("--tokenizers", "tests/fixtures/llama-tiny,tests/fixtures/tokenizer-json/mistral-7b").Split(',');
        bool json = args.Flag("--json");
        args.RejectUnknown();

        var rows = new List<(string Tokenizer, int Vocab, double Cold, double Warm)>();
        foreach (var dir in tokenizers)
        {
            var tokenizer = HfTokenizer.FromPretrained(dir);
            var vocabulary = TokenVocabulary.For(tokenizer); // built once per tokenizer, outside the timing
            _ = vocabulary.Size;
            // A grammar object per run, so the first pass computes every mask and the second finds them cached.
            var grammar = OutputGrammar.FromJsonSchema(Schema.Replace("\"title\"", $"\"title{rows.Count}\"", StringComparison.Ordinal));
            double cold = PerToken(grammar, tokenizer, tokens, seeds), warm = PerToken(grammar, tokenizer, tokens, seeds);
            rows.Add((Path.GetFileName(dir), tokenizer.VocabSize, cold, warm));
        }

        if (json)
        {
            Console.WriteLine(Report.ToJson(new
            {
                constraint = rows.Select(r => new { tokenizer = r.Tokenizer, vocab = r.Vocab, cold_ms_per_token = r.Cold, warm_ms_per_token = r.Warm }),
            }));
            return 0;
        }
        Console.WriteLine($"structured: {seeds} walks of up to {tokens} tokens under a 4-property JSON schema; {Report.Machine()}");
        Report.Table(["tokenizer", "vocabulary", "ms/token, states new", "ms/token, states cached"],
            rows.Select(r => (IReadOnlyList<string>)[r.Tokenizer, r.Vocab.ToString(System.Globalization.CultureInfo.InvariantCulture), Report.F(r.Cold, 3), Report.F(r.Warm, 3)]));
        return 0;
    }

    /// <summary>Restrict + choose + accept per token over random logits, less the same loop without a grammar (random logits and argmax).</summary>
    static double PerToken(OutputGrammar grammar, HfTokenizer tokenizer, int maxTokens, int seeds) =>
        Loop(grammar, tokenizer, maxTokens, seeds) - Loop(null, tokenizer, maxTokens, seeds);

    static double Loop(OutputGrammar? grammar, HfTokenizer tokenizer, int maxTokens, int seeds)
    {
        int end = tokenizer.EosTokenId ?? 0, count = 0;
        var clock = Stopwatch.StartNew();
        for (int seed = 0; seed < seeds; seed++)
        {
            var constraint = grammar?.Start(tokenizer, [end]);
            using var generator = new Generator((ulong)seed);
            for (int i = 0; i < maxTokens; i++)
            {
                using var scope = NewDisposeScope();
                var logits = randn([1, tokenizer.VocabSize], generator: generator);
                constraint?.Restrict(logits, maxTokens - i);
                int id = (int)logits.argmax(-1).item<long>();
                constraint?.Accept(id);
                count++;
                if (id == end && constraint is not null) break;
            }
        }
        return clock.Elapsed.TotalMilliseconds / count;
    }
}
