using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.LlavaOnevision;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.LlavaOnevision;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public sealed class LlavaOnevisionFixture : IDisposable
{
    readonly TempDir frames = new();

    public LlavaOnevisionFixture()
    {
        OnevisionReference.WriteVideoFrames(VideoFolder);
        Model = MultimodalModel.Load(OnevisionReference.Directory, [new LlavaVisionFactory()]);
    }

    public MultimodalModel Model { get; }
    public SafeTensorsFile Preprocess { get; } = OnevisionReference.Open("preprocess.safetensors");
    public SafeTensorsFile Vision { get; } = OnevisionReference.Open("vision.safetensors");
    public SafeTensorsFile Inputs { get; } = OnevisionReference.Open("inputs.safetensors");
    public SafeTensorsFile Logits { get; } = OnevisionReference.Open("logits.safetensors");
    public SafeTensorsFile Generate { get; } = OnevisionReference.Open("generate.safetensors");

    /// <summary>The reference video's frames as PNG files.</summary>
    public string VideoFolder => frames.File("video0");

    public OnevisionImageBinding Images => Assert.IsType<OnevisionImageBinding>(Model.Modalities.Single(m => m.Modality == "image"));
    public OnevisionVideoBinding Videos => Assert.IsType<OnevisionVideoBinding>(Model.Modalities.Single(m => m.Modality == "video"));

    /// <summary>The prompt of a case with its images read from the PNG files and its video from the frame folder.</summary>
    public MultimodalPrompt Prompt(string caseName)
    {
        var c = OnevisionReference.Case(caseName);
        var inputs = new List<ModalityInput>();
        foreach (var image in c.GetProperty("images").EnumerateArray()) inputs.Add(OnevisionReference.Image(image.GetString()!));
        if (c.GetProperty("video").GetString() is { } video)
        {
            Assert.Equal("video0", video);
            inputs.Add(ModalityInput.FromFolder(VideoFolder));
        }
        return new MultimodalPrompt(c.GetProperty("prompt_text").GetString()!, inputs);
    }

    public void Dispose()
    {
        Model.Dispose();
        foreach (var f in new[] { Preprocess, Vision, Inputs, Logits, Generate }) f.Dispose();
        frames.Dispose();
    }
}

/// <summary>LLaVA-OneVision (SigLIP + Qwen2, anyres_max_9, video pooling) against transformers 4.45.1.</summary>
public class LlavaOnevisionParityTests(LlavaOnevisionFixture fx, ITestOutputHelper output) : IClassFixture<LlavaOnevisionFixture>
{
    void Close(Tensor ours, Tensor reference, double tolerance, string what)
    {
        output.WriteLine($"{what}: relative error {Parity.RelativeError(ours, reference):E2}");
        Parity.AssertClose(ours, reference, tolerance, what);
    }

    static byte[] Bytes(Tensor t)
    {
        using (t) return t.data<byte>().ToArray();
    }

    [Fact]
    public void The_folder_binds_images_and_videos_to_one_tower_projector_and_newline()
    {
        var images = fx.Images;
        var videos = fx.Videos;
        var image = Assert.IsType<OnevisionImageEncoder>(images.Encoder);
        var video = Assert.IsType<OnevisionVideoEncoder>(videos.Encoder);
        Assert.Equal((510, 512), (images.PlaceholderTokenId, videos.PlaceholderTokenId));
        Assert.Equal((510, 512), (fx.Model.PlaceholderIds["image"], fx.Model.PlaceholderIds["video"]));
        Assert.Equal(9, image.MaxTiles);
        Assert.Equal((4, 2), (video.Side, video.PooledSide));
        Assert.Equal(33, video.TokenCount(8));
        // One projector: the video binding projects through the image binding's weights.
        using var probe = randn(3, 32);
        using var a = images.Projector.Project(probe);
        using var b = videos.Projector.Project(probe);
        Assert.True(a.equal(b).all().item<bool>());
    }

    [Theory]
    [MemberData(nameof(OnevisionReference.Images), MemberType = typeof(OnevisionReference))]
    public void Canvas_tiles_and_pixel_values_are_the_references_exactly(string key)
    {
        var encoder = Assert.IsType<OnevisionImageEncoder>(fx.Images.Encoder);
        var image = new ImageLoader().LoadFile(OnevisionReference.ImagePath(key));
        var processed = encoder.Processor.Preprocess(image);
        Assert.Equal(Parity.Ids(fx.Preprocess.Read($"{key}.image_sizes")), new long[] { image.Height, image.Width });
        Assert.Equal(fx.Preprocess.Tensors[$"{key}.canvas_u8"].Shape, new long[] { processed.Canvas.Height, processed.Canvas.Width, 3 });
        Assert.Equal(Bytes(fx.Preprocess.Read($"{key}.canvas_u8")), processed.Canvas.Pixels);
        Assert.Equal(fx.Preprocess.Tensors[$"{key}.tiles_u8"].Shape[0], processed.Tiles.Count);
        Assert.Equal(Bytes(fx.Preprocess.Read($"{key}.tiles_u8")), processed.Tiles.SelectMany(t => t.Pixels).ToArray());
        using var expected = fx.Preprocess.Read($"{key}.pixel_values");
        using var ours = processed.ToTensor().unsqueeze(0);
        Assert.Equal(expected.shape, ours.shape);
        Assert.True(ours.equal(expected).all().item<bool>(), $"{key}: pixel values differ from the reference");
    }

    [Theory]
    [MemberData(nameof(OnevisionReference.Images), MemberType = typeof(OnevisionReference))]
    public void Tile_features_projection_and_anyres_max_packing_match_the_reference(string key)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var binding = fx.Images;
        var encoder = Assert.IsType<OnevisionImageEncoder>(binding.Encoder);
        Close(encoder.Tower.Features(fx.Preprocess.Read($"{key}.pixel_values").squeeze(0)), fx.Vision.Read($"{key}.selected_features"), 1e-4, $"{key} selected features");
        Close(binding.Projector.Project(fx.Vision.Read($"{key}.selected_features")), fx.Vision.Read($"{key}.projected"), 1e-4, $"{key} projected");

        using var prepared = encoder.Prepare(OnevisionReference.Image(key));
        Assert.Equal(OnevisionReference.Preprocessing(key).GetProperty("num_image_tokens").GetInt32(), prepared.TokenCount);
        Close(binding.Embed(prepared, CPU), fx.Vision.Read($"{key}.packed_features"), 1e-4, $"{key} packed features");
    }

    [Fact]
    public void Vision_hidden_states_match_the_reference()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tower = Assert.IsType<LlavaModal.Encoders.Vision.Siglip.SiglipVisionModel>(Assert.IsType<OnevisionImageEncoder>(fx.Images.Encoder).Tower);
        var states = tower.HiddenStates(fx.Preprocess.Read("small.pixel_values").squeeze(0));
        for (int i = 0; i < 4; i++) Close(states[i], fx.Vision.Read($"small.vision_hidden_states.{i}"), 1e-4, $"hidden state {i}");
    }

    [Fact]
    public void Video_frames_from_a_folder_give_the_references_pixels_features_pooling_and_tokens()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var binding = fx.Videos;
        var encoder = Assert.IsType<OnevisionVideoEncoder>(binding.Encoder);
        using var prepared = encoder.Prepare(ModalityInput.FromFolder(fx.VideoFolder));
        Assert.Equal(OnevisionReference.Preprocessing("video0").GetProperty("num_video_tokens").GetInt32(), prepared.TokenCount);
        Assert.Equal((8, 64, 48), (prepared.Metadata.Frames, prepared.Metadata.Width, prepared.Metadata.Height));
        var expected = fx.Preprocess.Read("video0.pixel_values_videos").squeeze(0);
        Assert.True(prepared.Values.equal(expected).all().item<bool>(), "video pixel values differ from the reference");

        var tower = Assert.IsType<OnevisionImageEncoder>(fx.Images.Encoder).Tower;
        Close(tower.Features(expected), fx.Vision.Read("video0.selected_features"), 1e-4, "video selected features");
        Close(binding.Projector.Project(fx.Vision.Read("video0.selected_features")), fx.Vision.Read("video0.projected"), 1e-4, "video projected");
        var packed = binding.Embed(prepared, CPU);
        Close(packed.narrow(0, 0, 32).view(8, 4, -1), fx.Vision.Read("video0.pooled"), 1e-4, "video pooled");
        Close(packed, fx.Vision.Read("video0.packed_features"), 1e-4, "video packed features");
    }

    [Theory]
    [MemberData(nameof(OnevisionReference.Cases), MemberType = typeof(OnevisionReference))]
    public void Token_budget_known_before_encoding_gives_the_references_expanded_ids(string caseName)
    {
        var layout = fx.Model.Layout(fx.Prompt(caseName));
        var c = OnevisionReference.Case(caseName);
        Assert.Equal(OnevisionReference.Ints(c.GetProperty("prompt_input_ids_unexpanded")), layout.PromptIds);
        var images = layout.Inputs.Where(i => i.Modality == "image").ToList();
        Assert.Equal(OnevisionReference.Ints(c.GetProperty("image_token_counts")), images.Select(i => i.Tokens));
        Assert.Equal(c.GetProperty("image_token_spans").EnumerateArray().Select(s => (s[0].GetInt32(), s[1].GetInt32())), images.Select(i => (i.Start, i.Start + i.Tokens)));
        var videos = layout.Inputs.Where(i => i.Modality == "video").ToList();
        Assert.Equal(c.GetProperty("video_token_count").GetInt32(), videos.Sum(v => v.Tokens));
        if (c.TryGetProperty("video_token_span", out var span) && span.ValueKind == System.Text.Json.JsonValueKind.Array)
            Assert.Equal((span[0].GetInt32(), span[1].GetInt32()), (videos[0].Start, videos[0].Start + videos[0].Tokens));

        // Each placeholder expanded to the positions its input takes: the reference processor's input_ids.
        var tokens = new Queue<int>(layout.Inputs.Select(i => i.Tokens));
        var media = fx.Model.PlaceholderIds.Values.ToHashSet();
        var expanded = layout.PromptIds.SelectMany(id => media.Contains(id) ? Enumerable.Repeat(id, tokens.Dequeue()) : [id]).Select(id => (long)id);
        Assert.Equal(Parity.Ids(fx.Inputs.Read($"{caseName}.input_ids")), expanded);
        Assert.Equal(c.GetProperty("seq_len").GetInt32(), layout.Positions);
    }

    [Theory]
    [MemberData(nameof(OnevisionReference.FullLogitCases), MemberType = typeof(OnevisionReference))]
    public void Merged_embeddings_and_logits_match_the_reference(string caseName)
    {
        var prompt = fx.Prompt(caseName);
        using var embeds = fx.Model.InputsEmbeds(prompt);
        Close(embeds, fx.Logits.Read($"{caseName}.inputs_embeds").squeeze(0), 1e-4, $"{caseName} inputs_embeds");
        var (logits, _, _) = fx.Model.PromptLogits(prompt);
        using (logits) Close(logits, fx.Logits.Read($"{caseName}.logits").squeeze(0), 1e-4, $"{caseName} logits");
    }

    [Theory]
    [MemberData(nameof(OnevisionReference.Cases), MemberType = typeof(OnevisionReference))]
    public void Greedy_generation_from_the_files_matches_the_reference(string caseName)
    {
        var (logits, _, _) = fx.Model.PromptLogits(fx.Prompt(caseName));
        using (logits) Close(logits[-1].unsqueeze(0), fx.Logits.Read($"{caseName}.last_logits"), 1e-4, $"{caseName} last logits");

        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult result;
        try { result = fx.Model.Generate(fx.Prompt(caseName), new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }); }
        finally { fx.Model.Engine.StepLogitsObserver = null; }

        var c = OnevisionReference.Case(caseName);
        Assert.Equal(OnevisionReference.Ints(c.GetProperty("new_token_ids")), result.GeneratedIds);
        var sequences = Parity.Ids(fx.Generate.Read($"{caseName}.sequences"));
        Assert.Equal(sequences.Length - result.GeneratedIds.Count, result.PromptTokens);
        using var ours = cat(stepLogits, 0);
        Close(ours, fx.Generate.Read($"{caseName}.step_logits"), 1e-4, $"{caseName} step logits");
        Assert.Equal(c.GetProperty("decoded_new").GetString(), result.Text);
        foreach (var t in stepLogits) t.Dispose();
    }

    [Fact]
    public async Task A_batch_of_images_videos_and_text_equals_one_by_one_and_the_reference()
    {
        string[] cases = ["iv.wide2+video0", "d1.small", "v1.video0", "t0.text"];
        var prompts = cases.Select(fx.Prompt).ToList();
        Task<GenerationResult>[] tasks;
        // Submitted while the worker is held, so every row is prefilled before the first shared step.
        using (EngineHold.On(fx.Model.Engine))
            tasks = [.. prompts.Select(p => fx.Model.GenerateAsync(p, new GenerationOptions { MaxNewTokens = 10 }))];
        var results = await Task.WhenAll(tasks);
        for (int r = 0; r < cases.Length; r++)
        {
            var expected = OnevisionReference.Ints(OnevisionReference.Case(cases[r]).GetProperty("new_token_ids")).Take(10);
            Assert.Equal(expected, results[r].GeneratedIds);
            Assert.Equal(fx.Model.Generate(prompts[r], new GenerationOptions { MaxNewTokens = 10 }).GeneratedIds, results[r].GeneratedIds);
        }
    }
}
