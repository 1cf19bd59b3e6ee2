using LlavaModal.Encoders.Vision.Preprocessing;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Encoders.Vision;

public class PillowBicubicResamplerTests(ITestOutputHelper output)
{
    static RgbImage Random(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public void Same_size_returns_an_equal_copy()
    {
        var image = Random(13, 9, 1);
        var resized = PillowBicubicResampler.Resize(image, 13, 9);
        Assert.Equal(image.Pixels, resized.Pixels);
        Assert.NotSame(image.Pixels, resized.Pixels);
    }

    [Theory]
    [InlineData(640, 480, 448, 336)]
    [InlineData(7, 5, 470, 336)]
    [InlineData(31, 17, 5, 3)]
    [InlineData(20, 20, 20, 7)]
    public void Constant_image_stays_constant(int w, int h, int outW, int outH)
    {
        var resized = PillowBicubicResampler.Resize(RgbImage.Filled(w, h, 200, 3, 255), outW, outH);
        Assert.Equal((outW, outH), (resized.Width, resized.Height));
        for (int i = 0; i < resized.Pixels.Length; i += 3)
            Assert.Equal((200, 3, 255), (resized.Pixels[i], resized.Pixels[i + 1], resized.Pixels[i + 2]));
    }

    [Fact]
    public void Weights_sum_to_one_in_fixed_point()
    {
        foreach (var (inSize, outSize) in new[] { (640, 336), (7, 470), (300, 336), (5, 336), (1000, 3) })
        {
            var k = PillowBicubicResampler.Coefficients.Compute(inSize, outSize, ResampleFilter.Bicubic);
            for (int o = 0; o < outSize; o++)
            {
                long sum = 0;
                for (int i = 0; i < k.Count[o]; i++) sum += k.Weights[o * k.Stride + i];
                // Each weight is rounded separately, so the sum may be off by up to half a unit of 2^-22 per tap.
                int slack = k.Count[o] / 2 + 1;
                Assert.InRange(sum, (1 << 22) - slack, (1 << 22) + slack);
                Assert.InRange(k.Start[o], 0, inSize - 1);
                Assert.InRange(k.Start[o] + k.Count[o], 1, inSize);
            }
        }
    }

    [Fact]
    public void Only_one_pass_runs_when_one_dimension_is_unchanged()
    {
        // Height unchanged: every output row depends only on its own input row.
        var image = Random(40, 6, 2);
        var resized = PillowBicubicResampler.Resize(image, 17, 6);
        var rowOnly = new RgbImage(40, 1, image.Pixels.AsSpan(3 * 40 * 3, 40 * 3).ToArray());
        Assert.Equal(PillowBicubicResampler.Resize(rowOnly, 17, 1).Pixels, resized.Pixels.AsSpan(3 * 17 * 3, 17 * 3).ToArray());
    }

    [Fact]
    public void Upscaling_7x5_matches_pillow_exactly()
    {
        // img2 plain: 7x5 -> 470x336 then a centre crop of 336 columns starting at (470-336)/2 = 67.
        var image = new ImageLoader().LoadFile(PreprocessFixtures.ImagePath("img2"));
        var resized = PillowBicubicResampler.Resize(image, 470, 336);
        var expected = PreprocessFixtures.ReadBytes("img2.plain.crop_u8", out _);
        var actual = new byte[336 * 336 * 3];
        for (int y = 0; y < 336; y++)
            Array.Copy(resized.Pixels, (y * 470 + 67) * 3, actual, y * 336 * 3, 336 * 3);
        var (max, exact, within1) = PreprocessFixtures.Compare(expected, actual);
        output.WriteLine($"img2 plain: max {max}, exact {exact:F3}%, within ±1 {within1:F3}%");
        Assert.Equal(0, max);
    }

    [Fact]
    public void Bilinear_is_the_triangle_filter()
    {
        // 2 -> 4 upscale of [0, 255]: centres at 0.25, 0.75, 1.25, 1.75 → weights from the triangle filter, clamped at the edges.
        var row = new byte[] { 0, 0, 0, 255, 255, 255 };
        var resized = PillowBicubicResampler.Resize(row, 2, 1, 3, 4, 1, ResampleFilter.Bilinear);
        Assert.Equal(new byte[] { 0, 64, 191, 255 }, new[] { resized[0], resized[3], resized[6], resized[9] });
    }
}
