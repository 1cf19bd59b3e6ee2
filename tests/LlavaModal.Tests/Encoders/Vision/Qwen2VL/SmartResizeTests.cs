using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Encoders.Vision.Qwen2VL;

namespace LlavaModal.Tests.Encoders.Vision.Qwen2VL;

public class SmartResizeTests
{
    static Qwen2VLImageProcessor Processor(int patch, long min, long max) => new(Qwen2VLImageProcessor.Defaults, patch, 2, 2, min, max);

    [Theory]
    [MemberData(nameof(Qwen2VLReference.Images), MemberType = typeof(Qwen2VLReference))]
    public void The_fixtures_sizes_resize_as_the_reference(string key)
    {
        var expected = Qwen2VLReference.Preprocessing(key);
        var original = Qwen2VLReference.Ints(expected.GetProperty("original_hw"));
        var (h, w, refusal) = Processor(8, 1024, 4096).SmartResize(original[0], original[1]);
        Assert.Null(refusal);
        Assert.Equal(Qwen2VLReference.Ints(expected.GetProperty("resized_hw")), new[] { h, w });
    }

    [Theory]
    // The README's counts, from transformers' smart_resize run in Python: the Qwen2-VL-*-Instruct processors
    // (patch 14, min_pixels 3136, max_pixels 12845056) and qwen2-vl-tiny's (patch 8, 1024, 4096).
    [InlineData(480, 640, 14, 3136, 12845056, 476, 644, 391)]
    [InlineData(1080, 1920, 14, 3136, 12845056, 1092, 1932, 2691)]
    [InlineData(480, 640, 8, 1024, 4096, 48, 64, 12)]
    [InlineData(1080, 1920, 8, 1024, 4096, 48, 80, 15)]
    // Python's round() halves to even: 40 / 16 = 2.5 → 2.
    [InlineData(40, 40, 8, 16, 4096, 32, 32, 4)]
    public void Photo_sizes_and_token_counts(int height, int width, int patch, long min, long max, int resizedH, int resizedW, int tokens)
    {
        var (h, w, refusal) = Processor(patch, min, max).SmartResize(height, width);
        Assert.Null(refusal);
        Assert.Equal((resizedH, resizedW), (h, w));
        Assert.Equal(tokens, h / patch * (w / patch) / 4);
    }

    [Fact]
    public void Sizes_the_reference_refuses_are_refused_with_its_reason()
    {
        var processor = Processor(8, 1024, 4096);
        Assert.Contains("must be larger than factor:16", processor.SmartResize(15, 100).Refusal);
        Assert.Contains("aspect ratio must be smaller than 200", processor.SmartResize(16, 3300).Refusal);
        Assert.Throws<InvalidImageException>(() => processor.Preprocess([RgbImage.Filled(3300, 16, 1, 2, 3)], "strip"));
    }
}
