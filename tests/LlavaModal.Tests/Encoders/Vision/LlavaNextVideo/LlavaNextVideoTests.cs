using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Decoder.Generation;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Encoders.Vision.LlavaNextVideo;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.Tests.Encoders.Vision.LlavaNext;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Vision.LlavaNextVideo;

/// <summary>
/// LLaVA-NeXT-Video on a hand-made checkpoint (no reference fixture exists): the video path against an op-by-op
/// computation of transformers 4.45's equations (selected tower features → <c>vision_resampler</c> pooling → projector →
/// splice → decoder), images against LLaVA-NeXT on the same weights, token counts, the CLI and the errors.
/// </summary>
public class LlavaNextVideoTests
{
    const string Prompt = "USER: <video>\nWhat happens in this clip? ASSISTANT:";

    static MultimodalModel Load(string dir, ModelLoadOptions? options = null) => MultimodalModel.Load(dir, [new LlavaVisionFactory()], options);

    /// <summary>Each frame's 4x4 map pooled by hand, window by window: [frames × 4, 32].</summary>
    static Tensor PoolByHand(Tensor features, string mode, SafeTensorsFile weights)
    {
        var rows = new List<Tensor>();
        for (int f = 0; f < features.shape[0]; f++)
        {
            var map = features[f].view(4, 4, 32);
            for (int py = 0; py < 2; py++)
                for (int px = 0; px < 2; px++)
                {
                    var window = map.narrow(0, py * 2, 2).narrow(1, px * 2, 2); // [ky, kx, channel]
                    rows.Add(mode switch
                    {
                        "average" => window.reshape(4, 32).sum([0L]).DivScalar(4),
                        "max" => window.reshape(4, 32).max(0).values,
                        // out[o] = Σ_c,ky,kx W[o, c, ky, kx] · x[ky, kx, c] + b[o]
                        _ => matmul(weights.Read("vision_resampler.pool.weight").reshape(32, -1), window.permute(2, 0, 1).reshape(-1)) + weights.Read("vision_resampler.pool.bias"),
                    });
                }
        }
        return stack(rows);
    }

    [Theory]
    [InlineData("average")]
    [InlineData("max")]
    [InlineData("conv")]
    public void Video_embeddings_and_logits_follow_pooling_then_projector_then_splice(string mode)
    {
        using var dir = new TempDir();
        using var frames = new TempDir();
        NextVideoCheckpoint.Write(dir.Path, mode);
        NextVideoCheckpoint.WriteFrames(frames.Path, 3);
        using var model = Load(dir.Path);
        Assert.Equal(["image", "video"], model.Modalities.Select(m => m.Modality));
        var prompt = new MultimodalPrompt(Prompt, [ModalityInput.FromFolder(frames.Path)]);

        // Token counts before encoding: 3 frames x (4/2)² positions, no newline.
        var layout = model.Layout(prompt);
        var input = Assert.Single(layout.Inputs);
        Assert.Equal(("video", 12, layout.PromptIds.ToList().IndexOf(NextVideoCheckpoint.VideoTokenId)), (input.Modality, input.Tokens, input.Start));
        Assert.Equal(layout.PromptIds.Count - 1 + 12, layout.Positions);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var weights = SafeTensorsFile.Open(Path.Combine(dir.Path, "model.safetensors"));
        // LlavaNextVideoImageProcessor's steps are CLIP's (shortest edge, centre crop, rescale, normalise; no padding).
        var processor = new ClipImageProcessor(ImageProcessorConfig.LoadFromDirectory(dir.Path), padToSquare: false);
        var loader = new ImageLoader();
        var pixels = cat([.. Enumerable.Range(1, 3).Select(i => processor.Preprocess(loader.LoadFile(Path.Combine(frames.Path, $"frame{i}.png"))).ToTensor())], 0);
        var tower = Assert.IsType<LlavaNextImageEncoder>(model.Modalities[0].Encoder).Tower;
        var selected = tower.Features(pixels); // layer -2, class token dropped (vision_feature_select_strategy default)
        Assert.Equal([3L, 16, 32], selected.shape);
        var pooled = PoolByHand(selected, mode, weights);
        var hidden = nn.functional.gelu(matmul(pooled, weights.Read("multi_modal_projector.linear_1.weight").t()) + weights.Read("multi_modal_projector.linear_1.bias"));
        var video = matmul(hidden, weights.Read("multi_modal_projector.linear_2.weight").t()) + weights.Read("multi_modal_projector.linear_2.bias");

        var table = weights.Read("language_model.model.embed_tokens.weight");
        var ids = layout.PromptIds;
        int at = input.Start;
        var text = (int from, int count) => table.index_select(0, tensor(ids.Skip(from).Take(count).Select(i => (long)i).ToArray()));
        var embeds = cat([text(0, at), video, text(at + 1, ids.Count - at - 1)], 0);
        using var ours = model.InputsEmbeds(prompt);
        Parity.AssertClose(ours, embeds, 1e-5, $"{mode} merged embeddings");

        var (logits, _, spans) = model.PromptLogits(prompt);
        using (logits)
        {
            var expected = model.Decoder.Forward(embeds.unsqueeze(0), arange(embeds.shape[0], dtype: ScalarType.Int64).unsqueeze(0)).squeeze(0);
            Parity.AssertClose(logits, expected, 1e-5, $"{mode} logits");
        }
        Assert.Equal((at, 12), (spans.Single().Start, spans.Single().Length));
    }

    [Fact]
    public void Images_give_exactly_what_llava_next_gives_on_the_same_weights()
    {
        using var dir = new TempDir();
        NextVideoCheckpoint.Write(dir.Path);
        using var next = Load(LlavaNextReference.Directory);
        using var video = Load(dir.Path);
        var prompt = new MultimodalPrompt(LlavaNextReference.Prompt("d1"), [LlavaNextReference.Image("land")]);
        Assert.Equal(next.Layout(prompt).Inputs.Select(i => (i.Start, i.Tokens)), video.Layout(prompt).Inputs.Select(i => (i.Start, i.Tokens)));
        var (a, _, _) = next.PromptLogits(prompt);
        var (b, _, _) = video.PromptLogits(prompt);
        using (a)
        using (b)
            Assert.True(a.equal(b).all().item<bool>(), "the image logits differ from LLaVA-NeXT's");
        var options = new GenerationOptions { MaxNewTokens = 8 };
        Assert.Equal(next.Generate(prompt, options).GeneratedIds, video.Generate(prompt, options).GeneratedIds);
    }

    [Fact]
    public void Generate_takes_a_frame_folder_with_no_extra_flag_and_reports_its_tokens()
    {
        using var dir = new TempDir();
        using var frames = new TempDir();
        NextVideoCheckpoint.Write(dir.Path);
        NextVideoCheckpoint.WriteFrames(frames.Path, 5);
        var r = CliRunner.Run("generate", "--model", dir.Path, "--video", frames.Path, "--prompt", "What happens in this video?", "--max-new-tokens", "3", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var root = JsonDocument.Parse(r.Stdout).RootElement;
        var input = Assert.Single(root.GetProperty("inputs").EnumerateArray());
        Assert.Equal(("video", frames.Path, 5 * 4), (input.GetProperty("modality").GetString(), input.GetProperty("source").GetString(), input.GetProperty("tokens").GetInt32()));
        var promptIds = root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(promptIds.IndexOf(NextVideoCheckpoint.VideoTokenId), input.GetProperty("start").GetInt32());
        Assert.Equal(promptIds.Count - 1 + 20, root.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(3, root.GetProperty("generated_ids").GetArrayLength());
    }

    [Fact]
    public void An_animation_is_sampled_as_for_llava_onevision()
    {
        using var dir = new TempDir();
        NextVideoCheckpoint.Write(dir.Path);
        using (var gif = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(40, 30))
        {
            for (int i = 1; i < 20; i++)
                gif.Frames.AddFrame(new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(40, 30, new SixLabors.ImageSharp.PixelFormats.Rgb24((byte)(10 * i), 90, 10)).Frames.RootFrame);
            SixLabors.ImageSharp.ImageExtensions.SaveAsGif(gif, dir.File("clip.gif"));
        }
        using var model = Load(dir.Path);
        var layout = model.Layout(new MultimodalPrompt(Prompt, [ModalityInput.FromFile(dir.File("clip.gif"), "video")]));
        // VideoOptions.SampledFrames' default 16 of the 20 frames, 4 positions each.
        Assert.Equal(16 * 4, layout.Inputs.Single().Tokens);
    }

    [Fact]
    public void A_video_past_the_context_is_refused_before_encoding_naming_the_limit()
    {
        using var dir = new TempDir();
        using var frames = new TempDir();
        NextVideoCheckpoint.Write(dir.Path);
        NextVideoCheckpoint.WriteFrames(frames.Path, 8); // 32 positions
        using var model = Load(dir.Path, new ModelLoadOptions { Limits = new ModelLimits { MaxContextTokens = 30 } });
        var prompt = new MultimodalPrompt(Prompt, [ModalityInput.FromFolder(frames.Path)]);
        var e = Assert.Throws<InputLimitException>(() => model.Generate(prompt, new GenerationOptions { MaxNewTokens = 2 }));
        Assert.Equal((nameof(ModelLimits.MaxContextTokens), 29L), (e.Limit, e.Maximum));
        Assert.Contains("more than the 29 available", e.Message);
    }

    [Theory]
    [InlineData("spatial_pool_mode", "bilinear")]
    [InlineData("spatial_pool_stride", "0")]
    [InlineData("spatial_pool_stride", "5")]
    public void Pooling_settings_it_cannot_apply_are_config_errors_naming_the_key(string key, string value)
    {
        using var dir = new TempDir();
        NextVideoCheckpoint.Write(dir.Path, edit: c => c[key] = int.TryParse(value, out int n) ? n : value);
        var e = Assert.Throws<ConfigException>(() => Load(dir.Path));
        Assert.Contains(key, e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void The_conv_pooling_without_its_weights_is_a_checkpoint_error_naming_the_tensor()
    {
        using var dir = new TempDir();
        NextVideoCheckpoint.Write(dir.Path, "conv", poolWeights: false);
        var e = Assert.Throws<CheckpointException>(() => Load(dir.Path));
        Assert.Contains("vision_resampler.pool.weight", e.Message);
    }

    [Fact]
    public void A_stride_that_does_not_divide_the_map_keeps_whole_windows_only()
    {
        using var dir = new TempDir();
        using var frames = new TempDir();
        NextVideoCheckpoint.Write(dir.Path, "max", stride: 3);
        NextVideoCheckpoint.WriteFrames(frames.Path, 2);
        using var model = Load(dir.Path);
        var binding = model.Modalities[1];
        var encoder = Assert.IsType<NextVideoEncoder>(binding.Encoder);
        Assert.Equal((4, 1, 7), (encoder.Side, encoder.PooledSide, encoder.TokenCount(7)));
        using var prepared = encoder.Prepare(ModalityInput.FromFolder(frames.Path));
        using var features = encoder.Encode(prepared, CPU);
        // The tower at inference, as the encoder runs it (the same attention kernel, so the maxima compare exactly).
        using var noGrad = no_grad();
        using var tower = Assert.IsType<LlavaNextImageEncoder>(model.Modalities[0].Encoder).Tower.Features(prepared.Values);
        // One 3x3 window per frame, the top-left one: the last row and column are dropped.
        using var expected = tower.view(2, 4, 4, 32).narrow(1, 0, 3).narrow(2, 0, 3).reshape(2, 9, 32).amax(1);
        Assert.True(features.equal(expected).all().item<bool>(), "max pooling with stride 3 differs from the top-left 3x3 window's maximum");
    }
}
