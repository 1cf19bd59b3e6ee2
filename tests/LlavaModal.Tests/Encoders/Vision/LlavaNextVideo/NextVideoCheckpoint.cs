using System.Text.Json.Nodes;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Tests.Encoders.Vision.LlavaNext;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Vision.LlavaNextVideo;

/// <summary>
/// A hand-made LLaVA-NeXT-Video checkpoint: llava-next-tiny's weights, tokenizer and processor with
/// <c>model_type</c> <c>llava_next_video</c>, <c>video_token_index</c> 512 (the tokenizer lacks <c>&lt;video&gt;</c>, so the
/// loader adds it after its 512 tokens) and the pooling settings given; the conv mode adds seeded
/// <c>vision_resampler.pool.*</c> tensors. No reference implementation produced it: tests check it against the equations.
/// </summary>
public static class NextVideoCheckpoint
{
    public const int VideoTokenId = 512;

    /// <summary>Writes the checkpoint into <paramref name="dir"/>; <paramref name="edit"/> changes the config further.</summary>
    public static void Write(string dir, string mode = "average", int stride = 2, bool poolWeights = true, Action<JsonObject>? edit = null)
    {
        var source = LlavaNextReference.Directory;
        foreach (var file in Directory.GetFiles(source))
            if (Path.GetFileName(file) is not ("config.json" or "model.safetensors" or "README.md")) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        config["model_type"] = "llava_next_video";
        config["architectures"] = new JsonArray("LlavaNextVideoForConditionalGeneration");
        config["video_token_index"] = VideoTokenId;
        config["spatial_pool_mode"] = mode;
        config["spatial_pool_stride"] = stride;
        edit?.Invoke(config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        if (mode != "conv" || !poolWeights)
        {
            File.Copy(Path.Combine(source, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
            return;
        }
        using var weights = SafeTensorsFile.Open(Path.Combine(source, "model.safetensors"));
        using var scope = NewDisposeScope();
        var tensors = weights.Tensors.Keys.ToDictionary(k => k, k => weights.Read(k));
        var generator = new TorchSharp.torch.Generator(7);
        tensors["vision_resampler.pool.weight"] = randn([32, 32, stride, stride], generator: generator) * 0.1;
        tensors["vision_resampler.pool.bias"] = randn([32], generator: generator) * 0.1;
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
    }

    /// <summary>Writes <paramref name="count"/> seeded noise frames of <paramref name="width"/> x <paramref name="height"/> as frame1.png, ...</summary>
    public static void WriteFrames(string dir, int count, int width = 40, int height = 30, int seed = 3)
    {
        var random = new Random(seed);
        for (int f = 0; f < count; f++)
        {
            using var image = new Image<Rgb24>(width, height);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    image[x, y] = new Rgb24((byte)random.Next(256), (byte)((x * 6) + (f * 40)), (byte)(y * 8));
            image.SaveAsPng(Path.Combine(dir, $"frame{f + 1}.png"));
        }
    }
}
