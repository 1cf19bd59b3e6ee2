using LlavaModal.Core.Checkpoints;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Tests.Support;

/// <summary>Reference videos (uint8 frames [T, H, W, 3] in a safetensors file) written as lossless PNG frame files.</summary>
public static class FrameFiles
{
    /// <summary>Writes tensor <paramref name="name"/> of <paramref name="file"/> as <c>frame1.png</c>, <c>frame2.png</c>, ... into <paramref name="folder"/>.</summary>
    public static void Write(string file, string name, string folder)
    {
        using var inputs = SafeTensorsFile.Open(file);
        using var frames = inputs.Read(name);
        int count = (int)frames.shape[0], height = (int)frames.shape[1], width = (int)frames.shape[2];
        var bytes = frames.data<byte>().ToArray();
        int size = height * width * 3;
        Directory.CreateDirectory(folder);
        for (int i = 0; i < count; i++)
        {
            using var image = Image.LoadPixelData<Rgb24>(bytes.AsSpan(i * size, size), width, height);
            image.SaveAsPng(Path.Combine(folder, $"frame{i + 1}.png"));
        }
    }
}
