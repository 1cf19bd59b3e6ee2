using LlavaModal.Encoders.Vision.Preprocessing;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Encoders.Vision;

/// <summary>Resized + cropped pixels and pixel_values against the transformers / Pillow reference.</summary>
public class ClipImageProcessorParityTests(ITestOutputHelper output)
{
    static readonly ImageProcessorConfig Config = ImageProcessorConfig.Load(PreprocessFixtures.ConfigPath);

    // The fixture images carry no EXIF orientation, so applying it or not must not matter here.
    static readonly ImageLoader Loader = new(new ImageLoaderOptions { ApplyExifOrientation = false });

    static ClipImageProcessor Processor(string variant) => new(Config, padToSquare: variant == "pad");

    /// <summary>Every input is decoded by our own loader, the JPEG (img1) included: the whole path is checked end to end.</summary>
    static RgbImage Input(string key) => Loader.LoadFile(PreprocessFixtures.ImagePath(key));

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
    public void Resampler_alone_is_exact_on_the_reference_decoders_pixels_of_the_jpeg()
    {
        // Feeding Pillow's own decode of img1 separates the resampler from the decoder if the end-to-end check fails.
        var crop = Processor("pad").Preprocess(PreprocessFixtures.ReferenceDecodedImg1()).Cropped.Pixels;
        var (max, exact, within1) = PreprocessFixtures.Compare(PreprocessFixtures.ReadBytes("img1.pad.crop_u8", out _), crop);
        output.WriteLine($"img1.pad from the reference decode: max diff {max}, exact {exact:F3}%, within ±1 {within1:F3}%");
        Assert.Equal(0, max);
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
