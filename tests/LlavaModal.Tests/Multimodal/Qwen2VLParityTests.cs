using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Decoder.Qwen2VL;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Qwen2VL;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.Qwen2VL;
using LlavaModal.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Multimodal;

public sealed class Qwen2VLFixture : IDisposable
{
    readonly TempDir frames = new();

    public Qwen2VLFixture()
    {
        Qwen2VLReference.WriteVideoFrames(VideoFolder);
        Model = MultimodalModel.Load(Qwen2VLReference.Directory, [new LlavaVisionFactory()]);
    }

    public MultimodalModel Model { get; }
    public SafeTensorsFile Preprocess { get; } = Qwen2VLReference.Open("preprocess.safetensors");
    public SafeTensorsFile Vision { get; } = Qwen2VLReference.Open("vision.safetensors");
    public SafeTensorsFile Inputs { get; } = Qwen2VLReference.Open("inputs.safetensors");
    public SafeTensorsFile Logits { get; } = Qwen2VLReference.Open("logits.safetensors");
    public SafeTensorsFile Generate { get; } = Qwen2VLReference.Open("generate.safetensors");
    public SafeTensorsFile Batch { get; } = Qwen2VLReference.Open("batch.safetensors");

    public string VideoFolder => frames.File("video0");

    public ModalityBinding Images => Model.Modalities.Single(m => m.Modality == "image");
    public ModalityBinding Videos => Model.Modalities.Single(m => m.Modality == "video");
    public Qwen2VLMediaEncoder ImageEncoder => Assert.IsType<Qwen2VLMediaEncoder>(Images.Encoder);

    public MultimodalPrompt Prompt(string caseName)
    {
        var c = Qwen2VLReference.Case(caseName);
        var inputs = new List<ModalityInput>();
        foreach (var image in c.GetProperty("images").EnumerateArray()) inputs.Add(Qwen2VLReference.Image(image.GetString()!));
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
        foreach (var f in new[] { Preprocess, Vision, Inputs, Logits, Generate, Batch }) f.Dispose();
        frames.Dispose();
    }
}

/// <summary>Qwen2-VL (its ViT with Conv3d patches and 2-D rotary positions, the merger, smart resize, M-RoPE) against transformers 4.45.1.</summary>
public class Qwen2VLParityTests(Qwen2VLFixture fx, ITestOutputHelper output) : IClassFixture<Qwen2VLFixture>
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
    public void The_folder_binds_images_and_videos_to_one_tower_and_an_m_rope_decoder()
    {
        Assert.Equal((512, 513), (fx.Images.PlaceholderTokenId, fx.Videos.PlaceholderTokenId));
        Assert.Equal((512, 513), (fx.Model.PlaceholderIds["image"], fx.Model.PlaceholderIds["video"]));
        Assert.Same(fx.ImageEncoder.Tower, Assert.IsType<Qwen2VLMediaEncoder>(fx.Videos.Encoder).Tower);
        var decoder = Assert.IsType<Qwen2VLForCausalLM>(fx.Model.Decoder);
        Assert.Equal(3, decoder.Config.PositionDimensions);
        Assert.Equal([2, 3, 3], decoder.Config.MropeSection);
        Assert.True(decoder.Config.TieWordEmbeddings);
    }

    [Theory]
    [MemberData(nameof(Qwen2VLReference.Images), MemberType = typeof(Qwen2VLReference))]
    public void Smart_resize_pixels_and_patches_are_the_references_exactly(string key)
    {
        var expected = Qwen2VLReference.Preprocessing(key);
        var image = new ImageLoader().LoadFile(Qwen2VLReference.ImagePath(key));
        var patches = fx.ImageEncoder.Processor.Preprocess([image], key);
        Assert.Equal(Qwen2VLReference.Ints(expected.GetProperty("resized_hw")), new[] { patches.Height, patches.Width });
        Assert.Equal(Qwen2VLReference.Ints(expected.GetProperty("grid_thw")), new[] { patches.GridT, patches.GridH, patches.GridW });
        Assert.Equal(Bytes(fx.Preprocess.Read($"{key}.resized_u8")), patches.Resized[0].Pixels);
        using var ours = tensor(patches.Values, [patches.Count, 384]);
        Assert.True(ours.equal(fx.Preprocess.Read($"{key}.pixel_values")).all().item<bool>(), $"{key}: pixel values differ from the reference");
        Assert.Equal(Parity.Ids(fx.Preprocess.Read($"{key}.image_grid_thw")), new long[] { patches.GridT, patches.GridH, patches.GridW });
    }

    [Fact]
    public void An_image_smaller_than_a_merged_patch_is_refused_as_the_reference_refuses_it()
    {
        var error = Qwen2VLReference.Preprocessing("tiny").GetProperty("error").GetString()!;
        var e = Assert.Throws<InvalidImageException>(() => fx.ImageEncoder.Prepare(Qwen2VLReference.Image("tiny")));
        Assert.Contains(error["ValueError: ".Length..], e.Message);
    }

    [Theory]
    [MemberData(nameof(Qwen2VLReference.Images), MemberType = typeof(Qwen2VLReference))]
    public void Patch_embedding_rotary_angles_blocks_and_merger_match_the_reference(string key)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tower = fx.ImageEncoder.Tower;
        var pixels = fx.Preprocess.Read($"{key}.pixel_values");
        var grid = Parity.Ids(fx.Preprocess.Read($"{key}.image_grid_thw"));
        int t = (int)grid[0], h = (int)grid[1], w = (int)grid[2];
        Close(tower.PatchEmbeddings(pixels), fx.Vision.Read($"{key}.patch_embed"), 1e-4, $"{key} patch embed");
        var angles = tensor(LlavaModal.Encoders.Vision.Qwen2VL.VisionRotaryEmbedding.Angles(t, h, w, 2, tower.Config.HeadDim), [t * h * w, 8]);
        Close(angles, fx.Vision.Read($"{key}.rotary_pos_emb"), 1e-6, $"{key} rotary angles");
        var blocks = tower.BlockOutputs(pixels, t, h, w);
        if (key == "land") Close(blocks[0], fx.Vision.Read("land.block_out.0"), 1e-4, "land block 0");
        Close(blocks[^1], fx.Vision.Read($"{key}.blocks_out"), 1e-4, $"{key} blocks out");
        Close(tower.Merge(fx.Vision.Read($"{key}.blocks_out")), fx.Vision.Read($"{key}.merger_out"), 1e-4, $"{key} merger");

        // From the PNG: decode, resize, patch, encode, merge.
        using var prepared = fx.ImageEncoder.Prepare(Qwen2VLReference.Image(key));
        Assert.Equal(Qwen2VLReference.Preprocessing(key).GetProperty("num_image_tokens").GetInt32(), prepared.TokenCount);
        Close(fx.Images.Embed(prepared, CPU), fx.Vision.Read($"{key}.merger_out"), 1e-4, $"{key} features from the file");
    }

    [Fact]
    public void Video_frames_from_a_folder_give_the_references_patches_and_features()
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var encoder = Assert.IsType<Qwen2VLMediaEncoder>(fx.Videos.Encoder);
        using var prepared = encoder.Prepare(ModalityInput.FromFolder(fx.VideoFolder));
        var expected = Qwen2VLReference.Preprocessing("video0");
        Assert.Equal(expected.GetProperty("num_video_tokens").GetInt32(), prepared.TokenCount);
        var grid = Qwen2VLReference.Ints(expected.GetProperty("grid_thw"));
        Assert.Equal(new LlavaModal.Abstractions.Decoding.MediaGrid(grid[0], grid[1] / 2, grid[2] / 2), prepared.Grid);
        Assert.True(prepared.Values.equal(fx.Preprocess.Read("video0.pixel_values_videos")).all().item<bool>(), "video patches differ from the reference");
        var tower = encoder.Tower;
        Close(tower.PatchEmbeddings(prepared.Values), fx.Vision.Read("video0.patch_embed"), 1e-4, "video patch embed");
        Close(tower.BlockOutputs(prepared.Values, grid[0], grid[1], grid[2])[^1], fx.Vision.Read("video0.blocks_out"), 1e-4, "video blocks out");
        Close(fx.Videos.Embed(prepared, CPU), fx.Vision.Read("video0.merger_out"), 1e-4, "video merger");
    }

    [Theory]
    [MemberData(nameof(Qwen2VLReference.Cases), MemberType = typeof(Qwen2VLReference))]
    public void M_rope_positions_and_expanded_ids_are_the_references(string caseName)
    {
        var c = Qwen2VLReference.Case(caseName);
        var layout = fx.Model.Layout(fx.Prompt(caseName));
        Assert.Equal(c.GetProperty("seq_len").GetInt32(), layout.Positions);
        Assert.Equal(Qwen2VLReference.Ints(c.GetProperty("image_token_counts")), layout.Inputs.Where(i => i.Modality == "image").Select(i => i.Tokens));
        Assert.Equal(c.GetProperty("video_token_count").GetInt32(), layout.Inputs.Where(i => i.Modality == "video").Sum(i => i.Tokens));
        var media = fx.Model.PlaceholderIds.Values.ToHashSet();
        var tokens = new Queue<int>(layout.Inputs.Select(i => i.Tokens));
        var expanded = layout.PromptIds.SelectMany(id => media.Contains(id) ? Enumerable.Repeat(id, tokens.Dequeue()) : [id]).Select(id => (long)id);
        Assert.Equal(Parity.Ids(fx.Inputs.Read($"{caseName}.input_ids")), expanded);

        using var positions = fx.Model.PromptPositions(fx.Prompt(caseName));
        Assert.Equal(Parity.Ids(fx.Inputs.Read($"{caseName}.position_ids").squeeze(1)), Parity.Ids(positions));
        Assert.Equal(c.GetProperty("rope_delta").GetInt64(), positions.max().item<long>() + 1 - c.GetProperty("seq_len").GetInt64());
    }

    [Theory]
    [MemberData(nameof(Qwen2VLReference.FullLogitCases), MemberType = typeof(Qwen2VLReference))]
    public void Merged_embeddings_and_logits_match_the_reference(string caseName)
    {
        var prompt = fx.Prompt(caseName);
        using var embeds = fx.Model.InputsEmbeds(prompt);
        Close(embeds, fx.Logits.Read($"{caseName}.inputs_embeds").squeeze(0), 1e-4, $"{caseName} inputs_embeds");
        var (logits, _, _) = fx.Model.PromptLogits(prompt);
        using (logits) Close(logits, fx.Logits.Read($"{caseName}.logits").squeeze(0), 1e-4, $"{caseName} logits");
    }

    [Theory]
    [MemberData(nameof(Qwen2VLReference.Cases), MemberType = typeof(Qwen2VLReference))]
    public void Greedy_generation_from_the_files_matches_the_reference(string caseName)
    {
        var (logits, _, _) = fx.Model.PromptLogits(fx.Prompt(caseName));
        using (logits) Close(logits[-1].unsqueeze(0), fx.Logits.Read($"{caseName}.last_logits"), 1e-4, $"{caseName} last logits");

        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult result;
        try { result = fx.Model.Generate(fx.Prompt(caseName), new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }); }
        finally { fx.Model.Engine.StepLogitsObserver = null; }

        var c = Qwen2VLReference.Case(caseName);
        Assert.Equal(Qwen2VLReference.Ints(c.GetProperty("new_token_ids")), result.GeneratedIds);
        Assert.Equal(c.GetProperty("seq_len").GetInt32(), result.PromptTokens);
        using var ours = cat(stepLogits, 0);
        Close(ours, fx.Generate.Read($"{caseName}.step_logits"), 1e-4, $"{caseName} step logits");
        foreach (var t in stepLogits) t.Dispose();
    }

    [Fact]
    public void A_prompt_prefilled_in_pieces_generates_the_reference_s_tokens()
    {
        // Pieces of 7 positions: boundaries fall inside images and videos, and M-RoPE positions are cut with them.
        using var chunked = MultimodalModel.Load(Qwen2VLReference.Directory, [new LlavaVisionFactory()],
            new ModelLoadOptions { Limits = new ModelLimits { PrefillChunkTokens = 7 } });
        Assert.Equal(7, chunked.Engine.PrefillChunkTokens);
        foreach (string caseName in Qwen2VLReference.Cases())
        {
            var stepLogits = new List<Tensor>();
            chunked.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
            GenerationResult result;
            try { result = chunked.Generate(fx.Prompt(caseName), new GenerationOptions { MaxNewTokens = 20, SkipSpecialTokens = false }); }
            finally { chunked.Engine.StepLogitsObserver = null; }
            var c = Qwen2VLReference.Case(caseName);
            Assert.True(result.PromptTokens > 7, $"{caseName}: {result.PromptTokens} positions fit one piece");
            Assert.Equal(Qwen2VLReference.Ints(c.GetProperty("new_token_ids")), result.GeneratedIds);
            using var ours = cat(stepLogits, 0);
            Close(ours, fx.Generate.Read($"{caseName}.step_logits"), 1e-4, $"{caseName} step logits, prefilled 7 at a time");
            foreach (var t in stepLogits) t.Dispose();
        }
    }

    [Fact]
    public async Task Batch_matches_the_reference_s_left_padded_batch_and_one_by_one()
    {
        var rows = Qwen2VLReference.Index.GetProperty("cases").GetProperty("batch").GetProperty("rows").EnumerateArray()
            .Select(r => fx.Prompt($"{r.GetProperty("prompt").GetString()}.{string.Join('+', r.GetProperty("images").EnumerateArray().Select(i => i.GetString()))}"))
            .ToList();
        var stepLogits = new List<Tensor>();
        fx.Model.Engine.StepLogitsObserver = l => stepLogits.Add(l.clone().DetachFromDisposeScope());
        GenerationResult[] results;
        try
        {
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
            Assert.Equal(fx.Model.Generate(rows[r], new GenerationOptions { MaxNewTokens = 10 }).GeneratedIds, results[r].GeneratedIds);
        }
        var steps = new List<Tensor> { cat(stepLogits.Take(rows.Count).ToList(), 0) };
        steps.AddRange(stepLogits.Skip(rows.Count));
        using var ours = stack(steps, 1);
        Close(ours, fx.Batch.Read("generate_step_logits"), 1e-4, "batch step logits");
        foreach (var t in stepLogits) t.Dispose();
    }
}
