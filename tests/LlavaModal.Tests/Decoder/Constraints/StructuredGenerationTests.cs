using System.Text.Json;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Generation.Constraints;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;

namespace LlavaModal.Tests.Decoder.Constraints;

/// <summary>Constrained rows in the engine: alone or batched with free rows they give the same tokens, and the shipped toy model answers in the schema.</summary>
public class StructuredGenerationTests(BatchingFixture fx) : IClassFixture<BatchingFixture>
{
    static readonly OutputGrammar Json = OutputGrammar.JsonObject();

    [Fact]
    public async Task Constrained_and_free_rows_batched_together_give_their_lone_answers()
    {
        var requests = new (string Prompt, GenerationOptions Options)[]
        {
            (fx.Prompts[0], new GenerationOptions { MaxNewTokens = 30, OutputGrammar = Json }),
            (fx.Prompts[1], new GenerationOptions { MaxNewTokens = 30 }),
            (fx.Prompts[2], new GenerationOptions { MaxNewTokens = 30, OutputGrammar = Json, Temperature = 1, Seed = 4 }),
        };
        var alone = new List<GenerationResult>();
        foreach (var (prompt, options) in requests)
        {
            using var engine = fx.Engine(1);
            alone.Add(await engine.Submit(fx.Sequence(prompt), options));
        }
        using var batched = fx.Engine(4);
        Task<GenerationResult>[] tasks;
        using (EngineHold.On(batched)) tasks = [.. requests.Select(r => batched.Submit(fx.Sequence(r.Prompt), r.Options))];
        var together = await Task.WhenAll(tasks);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(alone[i].GeneratedIds, together[i].GeneratedIds);
        foreach (int i in new[] { 0, 2 })
        {
            using var document = JsonDocument.Parse(together[i].Text);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }
        // The free row is untouched by its neighbours' grammars (a random model's free text is not JSON).
        Assert.False(Json.IsMatch(together[1].Text));
    }

    [Fact]
    public void The_toy_model_answers_in_the_schema_and_stops_by_itself()
    {
        string toy = Path.Combine(AppContext.BaseDirectory, "models", "llava-modal-toy");
        using var model = MultimodalModel.Load(toy);
        const string schema = """{"type":"object","properties":{"shape":{"type":"string","maxLength":16},"count":{"type":"integer","minimum":0,"maximum":9},"color":{"enum":["red","green","blue","yellow"]}},"required":["shape","count","color"]}""";
        var grammar = OutputGrammar.FromJsonSchema(schema);
        var image = new ModalityInput(File.ReadAllBytes(Path.Combine(toy, "sample.png")), "image/png");
        for (int seed = 0; seed < 3; seed++)
        {
            var prompt = model.RenderChat([new ChatTurn(TurnRole.User, "What shape is in the image?")], [image]);
            var result = model.Generate(prompt, new GenerationOptions { MaxNewTokens = 64, OutputGrammar = grammar, Temperature = seed == 0 ? 0 : 1, Seed = seed });
            Assert.True(OutputGrammarTests.Validates(schema, result.Text), result.Text);
        }
    }
}
