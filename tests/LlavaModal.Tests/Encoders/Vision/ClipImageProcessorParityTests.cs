using LlavaModal.Encoders.Vision.Preprocessing;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Encoders.Vision;

/// <summary>Resized + cropped pixels and pixel_values against the transformers / Pillow reference.</summary>
public class ClipImageProcessorParityTests(ITestOutputHelper output)
{
    static readonly ImageProcessorConfig Config = ImageProcessorConfig.Load(PreprocessFixtures.ConfigPath);

    // The reference does not apply EXIF orientation; the fixtures carry none, but parity should not depend on that.
    static readonly ImageLoader Loader = new(new ImageLoaderOptions { ApplyExifOrientation = false });

    static ClipImageProcessor Processor(string variant) => new(Config, padToSquare: variant == "pad");

    /// <summary>img1 is a JPEG: decoders differ, so the resampler is checked on the reference decoder's pixels.</summary>
    static RgbImage Input(string key) => key == "img1" ? PreprocessFixtures.ReferenceDecodedImg1() : Loader.LoadFile(PreprocessFixtures.ImagePath(key));

    [Theory]
    [InlineData("img0", "pad")]
    [InlineData("img0", "plain")]
    [InlineData("img1", "pad")]
    [InlineData("img1", "plain")]
    [InlineData("img2", "pad")]
    [InlineData("img2", "plain")]
    [InlineData("img3", "pad")]
    [InlineData("img3", "plain")]
    [InlineData("img4", "pad")]
    [InlineData("img4", "plain")]
    public void Cropped_pixels_match_the_reference(string key, string variant)
    {
        var expected = PreprocessFixtures.ReadBytes($"{key}.{variant}.crop_u8", out var shape);
        Assert.Equal(new long[] { 336, 336, 3 }, shape);

        var result = Processor(variant).Preprocess(Input(key));

        Assert.Equal((336, 336), (result.Cropped.Width, result.Cropped.Height));
        var (max, exact, within1) = PreprocessFixtures.Compare(expected, result.Cropped.Pixels);
        output.WriteLine($"{key}.{variant}: max diff {max}, exact {exact:F3}%, within ±1 {within1:F3}%");
        Assert.True(max <= 3, $"max diff {max}");
        Assert.True(within1 >= 99.0, $"within ±1 {within1}%");
        Assert.Equal(0, max); // The resampler is bit-exact; keep it that way.
    }

    [Theory]
    [InlineData("img0", "pad")]
    [InlineData("img1", "pad")]
    [InlineData("img0", "plain")]
    public void Pixel_values_match_the_reference_exactly(string key, string variant)
    {
        var expected = PreprocessFixtures.ReadFloats($"{key}.{variant}.pixel_values", out var shape);
        Assert.Equal(new long[] { 1, 3, 336, 336 }, shape);

        var result = Processor(variant).Preprocess(Input(key));

        Assert.Equal(expected.Length, result.PixelValues.Length);
        int mismatches = 0;
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(result.PixelValues[i])) mismatches++;
        Assert.Equal(0, mismatches);
    }

    [Theory]
    [InlineData("img2", "pad")]
    [InlineData("img3", "plain")]
    [InlineData("img4", "pad")]
    public void Pixel_values_follow_the_reference_formula(string key, string variant)
    {
        // Step 4 of the fixture README, written out independently of the processor's lookup tables.
        var crop = PreprocessFixtures.ReadBytes($"{key}.{variant}.crop_u8", out _);
        var result = Processor(variant).Preprocess(Input(key));
        double[] mean = [0.48145466, 0.4578275, 0.40821073], std = [0.26862954, 0.26130258, 0.27577711];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 336 * 336; i++)
            {
                float rescaled = (float)(crop[i * 3 + c] * 0.00392156862745098);
                float expected = (rescaled - (float)mean[c]) / (float)std[c];
                Assert.Equal(expected, result.PixelValues[c * 336 * 336 + i]);
            }
    }

    [Fact]
    public void Own_jpeg_decoding_is_close_to_the_reference_decoder()
    {
        var ours = Loader.LoadFile(PreprocessFixtures.ImagePath("img1"));
        var reference = PreprocessFixtures.ReferenceDecodedImg1();
        Assert.Equal((200, 300), (ours.Width, ours.Height));
        long total = 0;
        int max = 0;
        for (int i = 0; i < ours.Pixels.Length; i++)
        {
            int d = Math.Abs(ours.Pixels[i] - reference.Pixels[i]);
            total += d;
            max = Math.Max(max, d);
        }
        double meanAbs = (double)total / ours.Pixels.Length;
        output.WriteLine($"img1 JPEG decode vs libjpeg-turbo: mean abs diff {meanAbs:F4}, max {max}");
        Assert.True(meanAbs < 3, $"mean abs diff {meanAbs}");

        // End to end from our own decode, for the record: resizing averages decoder differences down.
        var crop = Processor("pad").Preprocess(ours).Cropped.Pixels;
        var (cropMax, exact, within1) = PreprocessFixtures.Compare(PreprocessFixtures.ReadBytes("img1.pad.crop_u8", out _), crop);
        output.WriteLine($"img1.pad from ImageSharp's decode: max diff {cropMax}, exact {exact:F3}%, within ±1 {within1:F3}%");
    }

    [Fact]
    public void Tensor_has_the_model_input_shape_and_values()
    {
        LlavaModal.Core.Native.TorchNativeRuntime.EnsureLoadable();
        var result = Processor("pad").Preprocess(Input("img0"));
        using var t = result.ToTensor();
        Assert.Equal(new long[] { 1, 3, 336, 336 }, t.shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, t.dtype);
        Assert.Equal(result.PixelValues, t.data<float>().ToArray());
    }
}
