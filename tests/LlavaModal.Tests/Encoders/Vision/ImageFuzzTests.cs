using LlavaModal.Abstractions.Tensors;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Encoders.Vision;

/// <summary>
/// Seeded fuzzing of encoded images (PNG, JPEG, BMP, GIF): byte edits, truncations and duplicated ranges, plus PNG headers
/// claiming other sizes. Every case is refused with an <see cref="InvalidImageException"/> or decodes, and then decodes
/// to equal pixels again and preprocesses to finite pixel values; never an untyped error, an unbounded allocation or a hang.
/// </summary>
public class ImageFuzzTests(ITestOutputHelper output)
{
    static byte[] Encoded(string format)
    {
        using var image = new Image<Rgb24>(24, 18);
        for (int y = 0; y < 18; y++)
            for (int x = 0; x < 24; x++) image[x, y] = new Rgb24((byte)(x * 10), (byte)(y * 14), (byte)((x + y) * 5));
        using var stream = new MemoryStream();
        switch (format)
        {
            case "png": image.SaveAsPng(stream); break;
            case "bmp": image.SaveAsBmp(stream); break;
            case "gif": image.SaveAsGif(stream); break;
            default: return File.ReadAllBytes(Path.Combine(Fixtures.Images, "portrait_200x300.jpg"));
        }
        return stream.ToArray();
    }

    [Fact]
    public void Mutated_images_are_refused_with_InvalidImageException_or_decode_the_same_twice_to_finite_pixels()
    {
        var originals = new[] { "png", "jpg", "bmp", "gif" }.Select(Encoded).ToArray();
        var loader = new ImageLoader(new ImageLoaderOptions { MaxPixels = 4_000_000 });
        var processor = new ClipImageProcessor(new ImageProcessorConfig { ShortestEdge = 32, CropHeight = 32, CropWidth = 32 }) { MaxPixels = 4_000_000 };
        var report = Fuzz.Run("images", seed: 15, cases: 320, TimeSpan.FromSeconds(20),
            (random, i) =>
            {
                var original = originals[i % originals.Length];
                // Most edits go to the first bytes, where the headers are; some anywhere.
                return Fuzz.Mutate(random, original, 0, random.Next(3) == 0 ? original.Length : Math.Min(original.Length, 64));
            },
            bytes =>
            {
                var first = loader.Load(bytes, "fuzz");
                var second = loader.Load(bytes, "fuzz");
                Assert.Equal(first.Pixels, second.Pixels);
                using var pixels = processor.Preprocess(first, "fuzz").ToTensor();
                Assert.True(pixels.AllFinite());
            },
            output, typeof(InvalidImageException));
        Assert.True(report.Counts.GetValueOrDefault("accepted") > 0, report.ToString());
        Assert.True(report.Counts.GetValueOrDefault(nameof(InvalidImageException)) > 50, report.ToString());
    }
}
