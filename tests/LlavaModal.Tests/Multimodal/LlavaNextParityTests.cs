using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.LlavaNext;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public sealed class LlavaNextTinyFixture : IDisposable
{
    public MultimodalModel Model { get; } = MultimodalModel.Load(LlavaNextReference.Directory, [new LlavaVisionFactory()]);
    public SafeTensorsFile Preprocess { get; } = LlavaNextReference.Open("preprocess.safetensors");
    public SafeTensorsFile Vision { get; } = LlavaNextReference.Open("vision.safetensors");
    public SafeTensorsFile Inputs { get; } = LlavaNextReference.Open("inputs.safetensors");
    public SafeTensorsFile Logits { get; } = LlavaNextReference.Open("logits.safetensors");
    public SafeTensorsFile Generate { get; } = LlavaNextReference.Open("generate.safetensors");
    public SafeTensorsFile Batch { get; } = LlavaNextReference.Open("batch.safetensors");

    public LlavaNextBinding Binding => Assert.IsType<LlavaNextBinding>(Assert.Single(Model.Modalities));

    /// <summary>The prompt of a case (<c>d1.land</c>, <c>m2.wide3+land</c>) with its images read from the PNG files.</summary>
    public static MultimodalPrompt Prompt(string caseName)
    {
        var c = LlavaNextReference.Case(caseName);
        var images = c.GetProperty("images").EnumerateArray().Select(i => LlavaNextReference.Image(i.GetString()!)).ToList();
        return new MultimodalPrompt(LlavaNextReference.Prompt(c.GetProperty("prompt").GetString()!), images);
    }

    public void Dispose()
    {
        Model.Dispose();
        foreach (var f in new[] { Preprocess, Vision, Inputs, Logits, Generate, Batch }) f.Dispose();
    }
}

public class LlavaNextParityTests(LlavaNextTinyFixture fx, ITestOutputHelper output) : IClassFixture<LlavaNextTinyFixture>
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in LlavaNextReference.Index.GetProperty("cases").GetProperty("single").EnumerateObject()) data.Add(c.Name);
        return data;
    }

    public static TheoryData<string> FullLogitCases()
    {
        var data = new TheoryData<string>();
        using var logits = LlavaNextReference.Open("logits.safetensors");
        foreach (var name in logits.Tensors.Keys.Where(k => k.EndsWith(".inputs_embeds", StringComparison.Ordinal)))
            data.Add(name[..^".inputs_embeds".Length]);
        return data;
    }

    void Close(Tensor ours, Tensor reference, double tolerance, string what)
    {
        output.WriteLine($"{what}: relative error {Parity.RelativeError(ours, reference):E2}");
        Parity.AssertClose(ours, reference, tolerance, what);
    }

    [Theory]
    [MemberData(nameof(LlavaNextReference.Images), MemberType = typeof(LlavaNextReference))]
    public void Tile_features_projection_and_packing_match_the_reference(string key)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var binding = fx.Binding;
        var encoder = Assert.IsType<LlavaNextImageEncoder>(binding.Encoder);
        var selected = encoder.Tower.Features(fx.Preprocess.Read($"{key}.pixel_values").squeeze(0));
        Close(selected, fx.Vision.Read($"{key}.selected_features"), 1e-4, $"{key} selected features");
        Close(binding.Projector.Project(fx.Vision.Read($"{key}.selected_features")), fx.Vision.Read($"{key}.projected"), 1e-4, $"{key} projected");

        // From the PNG file: decode, tile, encode, project, pack.
        using var prepared = encoder.Prepare(LlavaNextReference.Image(key));
        var image = LlavaNextReference.Index.GetProperty("images").GetProperty(key).GetProperty("size_wh");
        Assert.Equal((image[0].GetInt32(), image[1].GetInt32()), (prepared.Metadata.Width!.Value, prepared.Metadata.Height!.Value));
        Assert.Equal(LlavaNextReference.Preprocessing(key).GetProperty("num_image_tokens").GetInt32(), prepared.TokenCount);
        Close(binding.Embed(prepared, CPU), fx.Vision.Read($"{key}.packed_features"), 1e-4, $"{key} packed features");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Token_budget_known_before_encoding_gives_the_references_expanded_ids(string caseName)
    {
        var layout = fx.Model.Layout(LlavaNextTinyFixture.Prompt(caseName));
        var c = LlavaNextReference.Case(caseName);
        Assert.Equal(LlavaNextReference.Ints(c.GetProperty("prompt_input_ids_unexpanded")), layout.PromptIds);
        Assert.Equal(LlavaNextReference.Ints(c.GetProperty("image_token_counts")), layout.Inputs.Select(i => i.Tokens));
        Assert.Equal(c.GetProperty("image_token_spans").EnumerateArray().Select(s => (s[0].GetInt32(), s[1].GetInt32())), layout.Inputs.Select(i => (i.Start, i.Start + i.Tokens)));
        Assert.All(layout.Inputs, i => Assert.Equal("image", i.Modality));

        // Each placeholder expanded to the positions its image takes: the reference processor's input_ids.
        var imageId = fx.Model.PlaceholderIds["image"];
        var tokens = new Queue<int>(layout.Inputs.Select(i => i.Tokens));
        var expanded = layout.PromptIds.SelectMany(id => id == imageId ? Enumerable.Repeat(imageId, tokens.Dequeue()) : [id]).Select(id => (long)id);
        Assert.Equal(Parity.Ids(fx.Inputs.Read($"{caseName}.input_ids")), expanded);
        Assert.Equal(c.GetProperty("seq_len").GetInt32(), layout.Positions);
    }

    [Theory]
    [MemberData(nameof(FullLogitCases))]
    public void Merged_embeddings_and_logits_match_the_reference(string caseName)
    {
        var prompt = LlavaNextTinyFixture.Prompt(caseName);
        using var embeds = fx.Model.InputsEmbeds(prompt);
        Close(embeds, fx.Logits.Read($"{caseName}.inputs_embeds").squeeze(0), 1e-4, $"{caseName} inputs_embeds");
        var (logits, _, spans) = fx.Model.PromptLogits(prompt);
        using (logits) Close(logits, fx.Logits.Read($"{caseName}.logits").squeeze(0), 1e-4, $"{caseName} logits");
        Assert.Equal(LlavaNextReference.Ints(LlavaNextReference.Case(caseName).GetProperty("image_token_counts")), spans.Select(s => s.Length));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Greedy_generation_from_the_png_files_matches_the_reference(string caseName)
    {
        var (logits, _, _) = fx.Model.PromptLogits(LlavaNextTinyFixture.Prompt(caseName));
        using (logits) Close(logits[-1].unsqueeze(0), fx.Logits.Read($"{caseName}.last_logits"), 1e-4, $"{caseName} last logits");

        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult result;
        try { result = fx.Model.Generate(LlavaNextTinyFixture.Prompt(caseName), new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }); }
        finally { fx.Model.Engine.StepLogitsObserver = null; }

        var c = LlavaNextReference.Case(caseName);
        Assert.Equal(LlavaNextReference.Ints(c.GetProperty("new_token_ids")), result.GeneratedIds);
        var sequences = Parity.Ids(fx.Generate.Read($"{caseName}.sequences"));
        Assert.Equal(sequences.Skip(sequences.Length - 20).Select(i => (int)i), result.GeneratedIds);
        Assert.Equal(sequences.Length - 20, result.PromptTokens);
        using var ours = cat(stepLogits, 0);
        Close(ours, fx.Generate.Read($"{caseName}.step_logits"), 1e-4, $"{caseName} step logits");
        Assert.Equal(c.GetProperty("decoded_new").GetString(), result.Text);
        foreach (var t in stepLogits) t.Dispose();
    }

    [Fact]
    public async Task Batch_matches_the_reference_s_left_padded_batch_and_one_by_one()
    {
        var rows = LlavaNextReference.Index.GetProperty("cases").GetProperty("batch").GetProperty("rows").EnumerateArray()
            .Select(r => LlavaNextTinyFixture.Prompt($"{r.GetProperty("prompt").GetString()}.{string.Join('+', r.GetProperty("images").EnumerateArray().Select(i => i.GetString()))}"))
            .ToList();
        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        IReadOnlyList<GenerationResult> results;
        try
        {
            // Submitted while the worker is held, so both rows are prefilled before the first shared step.
            Task<GenerationResult>[] tasks;
            using (EngineHold.On(fx.Model.Engine))
                tasks = [.. rows.Select(r => fx.Model.GenerateAsync(r, new GenerationOptions { MaxNewTokens = 10 }))];
            results = await Task.WhenAll(tasks);
        }
        finally { fx.Model.Engine.StepLogitsObserver = null; }

        var expected = fx.Batch.Read("generate_sequences");
        long promptLength = fx.Batch.Read("input_ids").shape[1];
        for (int r = 0; r < rows.Count; r++)
        {
            Assert.Equal(Parity.Ids(expected[r]).Skip((int)promptLength).Select(i => (int)i), results[r].GeneratedIds);
            var single = fx.Model.Generate(rows[r], new GenerationOptions { MaxNewTokens = 10 });
            Assert.Equal(single.GeneratedIds, results[r].GeneratedIds);
        }
        Assert.Equal(Parity.Ids(fx.Batch.Read("attention_mask")).Count(m => m == 1), results.Sum(r => r.PromptTokens));
        // Each row's prefill logits [1, V], then the shared steps [rows, V]: as the reference's [rows, steps, V].
        var steps = new List<Tensor> { cat(stepLogits.Take(rows.Count).ToList(), 0) };
        steps.AddRange(stepLogits.Skip(rows.Count));
        Assert.All(steps, t => Assert.Equal(rows.Count, t.shape[0]));
        using var ours = stack(steps, 1);
        Close(ours, fx.Batch.Read("generate_step_logits"), 1e-4, "batch step logits");
        foreach (var t in stepLogits) t.Dispose();
    }
}
