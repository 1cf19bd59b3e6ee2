using System.Text.Json;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Qwen2;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Siglip;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public sealed class LlavaInterleaveFixture : IDisposable
{
    public LlavaInterleaveFixture()
    {
        // The default plugin options (LLaVA-1.5 padding on): a SigLIP processor must ignore them, as the reference does.
        Model = MultimodalModel.Load(Fixtures.LlavaInterleaveTiny, [new LlavaVisionFactory()]);
        var expected = Path.Combine(Fixtures.LlavaInterleaveTiny, "expected");
        foreach (var name in new[] { "preprocess", "vision", "inputs", "logits", "generate", "batch" })
            Files[name] = SafeTensorsFile.Open(Path.Combine(expected, name + ".safetensors"));
        Index = JsonDocument.Parse(File.ReadAllText(Path.Combine(expected, "index.json"))).RootElement;
    }

    public MultimodalModel Model { get; }
    public Dictionary<string, SafeTensorsFile> Files { get; } = [];
    public JsonElement Index { get; }

    public Binding Vision => new(Model.Modalities.Single(m => m.Modality == "image"));

    public JsonElement Case(string name) => Index.GetProperty("cases").GetProperty("single").GetProperty(name);

    public string ImagePath(string key) => Path.Combine(Fixtures.LlavaInterleaveTiny, Index.GetProperty("images").GetProperty(key).GetProperty("file").GetString()!);

    /// <summary>The case's prompt with its images read from the PNG files (our own decoding and preprocessing).</summary>
    public MultimodalPrompt Prompt(string caseName)
    {
        var c = Case(caseName);
        var images = c.GetProperty("images").EnumerateArray().Select(i => ModalityInput.FromFile(ImagePath(i.GetString()!), "image")).ToList();
        return new MultimodalPrompt(c.GetProperty("prompt_text").GetString()!, images);
    }

    public Tensor Read(string file, string name) => Files[file].Read(name);

    public void Dispose()
    {
        Model.Dispose();
        foreach (var f in Files.Values) f.Dispose();
    }

    public sealed record Binding(ModalityBinding Value)
    {
        public LlavaImageEncoder Encoder => (LlavaImageEncoder)Value.Encoder;
        public SiglipVisionModel Tower => (SiglipVisionModel)Encoder.Tower;
    }
}

/// <summary>LLaVA with a SigLIP tower and a Qwen2 decoder (the llava-interleave layout) against transformers 4.45.1.</summary>
public class LlavaInterleaveParityTests(LlavaInterleaveFixture fx, ITestOutputHelper output) : IClassFixture<LlavaInterleaveFixture>
{
    public static TheoryData<string> Images => new() { "land", "port", "tiny", "square", "wide3" };

    public static TheoryData<string> SingleCases => new() { "d1.land", "d1.port", "d1.tiny", "d1.square", "d2.wide3", "m2.port+square", "t0.text" };

    public static TheoryData<string> FullLogitCases => new() { "d1.land", "d1.port", "d2.wide3", "m2.port+square", "t0.text" };

    [Fact]
    public void The_folder_binds_siglip_with_its_processor_and_a_tied_qwen2_decoder()
    {
        var vision = fx.Vision;
        Assert.IsType<SiglipImageProcessor>(vision.Encoder.Processor);
        Assert.Equal((16, 32, 32), (vision.Tower.TokenCount, vision.Tower.OutputWidth, vision.Tower.ImageSize));
        Assert.Equal(510, vision.Value.PlaceholderTokenId);
        var names = vision.Tower.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("vision_model.embeddings.patch_embedding.bias", names);
        Assert.Contains("vision_model.post_layernorm.weight", names);
        Assert.DoesNotContain(names, n => n.Contains("class_embedding") || n.Contains("pre_layrnorm"));
        var decoder = Assert.IsType<Qwen2ForCausalLM>(fx.Model.Decoder);
        Assert.True(decoder.Config.TieWordEmbeddings);
        Assert.DoesNotContain(decoder.named_parameters(), p => p.name == "lm_head.weight");
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Resized_pixels_and_pixel_values_are_identical_to_the_reference(string key)
    {
        var image = new ImageLoader().LoadFile(fx.ImagePath(key));
        var processed = fx.Vision.Encoder.Processor.Preprocess(image);
        using var resized = fx.Read("preprocess", $"{key}.resized_u8");
        Assert.Equal(resized.shape, new long[] { processed.Height, processed.Width, 3 });
        Assert.True(resized.data<byte>().ToArray().AsSpan().SequenceEqual(processed.Cropped.Pixels), $"{key}: resized pixels differ");
        using var pixels = fx.Read("preprocess", $"{key}.pixel_values");
        using var ours = processed.ToTensor();
        Assert.Equal(pixels.shape, ours.shape);
        Assert.Equal(pixels.data<float>().ToArray(), ours.data<float>().ToArray());
    }

    [Fact]
    public void Vision_hidden_states_follow_the_reference_and_post_layernorm_is_only_on_the_last_hidden_state()
    {
        using var scope = NewDisposeScope();
        var tower = fx.Vision.Tower;
        var states = tower.HiddenStates(fx.Read("preprocess", "land.pixel_values"));
        Assert.Equal(4, states.Count);
        for (int i = 0; i < states.Count; i++)
        {
            var reference = fx.Read("vision", $"land.vision_hidden_states.{i}");
            output.WriteLine($"vision hidden state {i}: relative error {Parity.RelativeError(states[i], reference):E2}");
            Parity.AssertClose(states[i], reference, 1e-4, $"vision hidden state {i}");
        }
        // last_hidden_state = LayerNorm(last layer output) with post_layernorm's weights, written out here.
        using var file = SafeTensorsFile.Open(Path.Combine(Fixtures.LlavaInterleaveTiny, "model.safetensors"));
        var x = fx.Read("vision", "land.vision_hidden_states.3").to(ScalarType.Float64);
        var centred = x - x.mean([-1], keepdim: true);
        var variance = (centred * centred).mean([-1], keepdim: true);
        var expected = (centred * variance.AddScalar(1e-6).rsqrt() * file.Read("vision_tower.vision_model.post_layernorm.weight", ScalarType.Float64))
            .Plus(file.Read("vision_tower.vision_model.post_layernorm.bias", ScalarType.Float64));
        Parity.AssertClose(tower.LastHiddenState(fx.Read("preprocess", "land.pixel_values")), expected.to(ScalarType.Float32), 1e-5, "last_hidden_state");
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Selected_features_and_projector_output_match_the_reference(string key)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var vision = fx.Vision;
        var features = vision.Tower.Features(fx.Read("preprocess", $"{key}.pixel_values"));
        var reference = fx.Read("vision", $"{key}.selected_features");
        Parity.AssertClose(features, reference, 1e-4, $"{key} selected features");
        var projected = vision.Value.Projector.Project(features);
        var expected = fx.Read("vision", $"{key}.projected");
        output.WriteLine($"{key}: features {Parity.RelativeError(features, reference):E2}, projector {Parity.RelativeError(projected, expected):E2}");
        Parity.AssertClose(projected, expected, 1e-4, $"{key} projector output");
    }

    [Theory]
    [MemberData(nameof(SingleCases))]
    public void Prompt_ids_and_image_spans_are_exact(string caseName)
    {
        var (logits, ids, spans) = fx.Model.PromptLogits(fx.Prompt(caseName));
        logits.Dispose();
        var c = fx.Case(caseName);
        Assert.Equal(c.GetProperty("prompt_input_ids_unexpanded").EnumerateArray().Select(e => e.GetInt32()), ids);
        Assert.Equal(c.GetProperty("image_token_spans").EnumerateArray().Select(s => (s[0].GetInt32(), s[1].GetInt32())),
            spans.Select(s => (s.Start, s.Start + s.Length)));
        // Expanded as the reference's input_ids: one <image> per feature vector.
        var expanded = ids.SelectMany(id => id == 510 ? Enumerable.Repeat(510L, 16) : [id]).ToArray();
        Assert.Equal(Parity.Ids(fx.Read("inputs", $"{caseName}.input_ids")), expanded);
    }

    [Theory]
    [MemberData(nameof(FullLogitCases))]
    public void Merged_embeddings_final_hidden_states_and_logits_from_the_png_files_match_the_reference(string caseName)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var prompt = fx.Prompt(caseName);
        var embeds = fx.Model.InputsEmbeds(prompt);
        Parity.AssertClose(embeds, fx.Read("logits", $"{caseName}.inputs_embeds").squeeze(0), 1e-4, $"{caseName} inputs_embeds");
        var states = new List<Tensor>();
        fx.Model.Decoder.Forward(embeds.unsqueeze(0), arange(embeds.shape[0]).unsqueeze(0), hiddenStates: states);
        Parity.AssertClose(states[^1], fx.Read("logits", $"{caseName}.final_hidden"), 1e-4, $"{caseName} final hidden");
        var (logits, _, _) = fx.Model.PromptLogits(prompt);
        var reference = fx.Read("logits", $"{caseName}.logits").squeeze(0);
        output.WriteLine($"{caseName}: inputs_embeds {Parity.RelativeError(embeds, fx.Read("logits", $"{caseName}.inputs_embeds").squeeze(0)):E2}, logits {Parity.RelativeError(logits, reference):E2}");
        Parity.AssertClose(logits, reference, 1e-4, $"{caseName} logits");
        Assert.Equal(Parity.Ids(reference.argmax(-1)), Parity.Ids(logits.argmax(-1)));
        logits.Dispose();
    }

    [Theory]
    [InlineData("d1.tiny")]
    [InlineData("d1.square")]
    public void Last_position_logits_match_the_reference(string caseName)
    {
        var (logits, _, _) = fx.Model.PromptLogits(fx.Prompt(caseName));
        using (logits) Parity.AssertClose(logits[logits.shape[0] - 1], fx.Read("logits", $"{caseName}.last_logits")[0], 1e-4, $"{caseName} last logits");
    }

    [Theory]
    [MemberData(nameof(SingleCases))]
    public void Greedy_generation_from_the_png_files_matches_the_reference(string caseName)
    {
        var c = fx.Case(caseName);
        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult result;
        try { result = fx.Model.Generate(fx.Prompt(caseName), new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }); }
        finally { fx.Model.Engine.StepLogitsObserver = null; }

        Assert.Equal(c.GetProperty("new_token_ids").EnumerateArray().Select(e => e.GetInt32()), result.GeneratedIds);
        var sequences = Parity.Ids(fx.Read("generate", $"{caseName}.sequences"));
        Assert.Equal(sequences.Skip(sequences.Length - result.GeneratedIds.Count).Select(i => (int)i), result.GeneratedIds);
        Assert.Equal(c.GetProperty("stopped_on_eos").GetBoolean() ? FinishReason.Stop : FinishReason.Length, result.FinishReason);
        using var ours = cat(stepLogits, 0);
        var reference = fx.Read("generate", $"{caseName}.step_logits");
        output.WriteLine($"{caseName}: step logits relative error {Parity.RelativeError(ours, reference):E2}");
        Parity.AssertClose(ours, reference, 1e-4, $"{caseName} step logits");
        Assert.Equal(c.GetProperty("decoded_new").GetString(), result.Text);
        foreach (var t in stepLogits) t.Dispose();
    }

    [Fact]
    public void Left_padded_batch_matches_the_reference_masks_logits_and_greedy_ids_and_equals_one_by_one()
    {
        var batch = fx.Index.GetProperty("cases").GetProperty("batch");
        var rows = batch.GetProperty("rows").EnumerateArray()
            .Select(r => $"{r.GetProperty("prompt").GetString()}.{string.Join('+', r.GetProperty("images").EnumerateArray().Select(i => i.GetString()))}").ToArray();
        Assert.Equal(["d2.wide3", "d1.land"], rows);

        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            // The reference's batch input: our rows, left padded, with its mask and positions.
            var ids = fx.Read("batch", "input_ids");
            var mask = fx.Read("batch", "attention_mask");
            var positions = fx.Read("batch", "position_ids");
            long width = ids.shape[1];
            Assert.Equal(Parity.Ids(ids).Select(i => i == 511 ? 0L : 1L), Parity.Ids(mask));
            var embeds = zeros([2, width, 64]);
            for (int r = 0; r < 2; r++)
            {
                var row = fx.Model.InputsEmbeds(fx.Prompt(rows[r]));
                embeds[r].narrow(0, width - row.shape[0], row.shape[0]).copy_(row);
                var expanded = Parity.Ids(fx.Read("inputs", $"{rows[r]}.input_ids"));
                Assert.Equal(Parity.Ids(ids[r]).Skip((int)(width - expanded.Length)), expanded);
            }
            var logits = fx.Model.Decoder.Forward(embeds, positions, padding: mask);
            var last = fx.Read("batch", "logits_last");
            Parity.AssertClose(logits.narrow(1, width - last.shape[1], last.shape[1]), last, 1e-4, "batched logits");
            var argmax = Parity.Ids(fx.Read("batch", "argmax"));
            var ours = Parity.Ids(logits.argmax(-1));
            Assert.Equal(argmax.Zip(ours).Where(p => p.First >= 0).Select(p => p.First), argmax.Zip(ours).Where(p => p.First >= 0).Select(p => p.Second));
        }

        var options = new GenerationOptions { MaxNewTokens = 10 };
        var results = fx.Model.GenerateBatch(rows.Select(fx.Prompt).ToList(), options);
        var expected = fx.Read("batch", "generate_sequences");
        for (int r = 0; r < 2; r++)
        {
            Assert.Equal(Parity.Ids(expected[r]).Skip(70).Select(i => (int)i), results[r].GeneratedIds);
            Assert.Equal(fx.Model.Generate(fx.Prompt(rows[r]), options).GeneratedIds, results[r].GeneratedIds);
        }
    }

    [Fact]
    public void Batch_pixel_values_are_those_of_the_processor()
    {
        using var pixels = fx.Read("batch", "pixel_values");
        var loader = new ImageLoader();
        for (int r = 0; r < 2; r++)
        {
            using var ours = fx.Vision.Encoder.Processor.Preprocess(loader.LoadFile(fx.ImagePath(r == 0 ? "wide3" : "land"))).ToTensor();
            Assert.Equal(pixels[r].data<float>().ToArray(), ours[0].data<float>().ToArray());
        }
    }
}
