using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Tests.Encoders.Vision;

public class ClipImageProcessorTests
{
    static readonly ClipImageProcessor Clip336 = new(new ImageProcessorConfig { ShortestEdge = 336, CropHeight = 336, CropWidth = 336 });

    static RgbImage Numbered(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i / 3 + 1);
        return new RgbImage(width, height, pixels);
    }

    [Theory]
    [InlineData(640, 480, 448, 336)]
    [InlineData(200, 300, 336, 504)]
    [InlineData(7, 5, 470, 336)]
    [InlineData(336, 336, 336, 336)]
    [InlineData(1000, 3, 112000, 336)]
    public void Short_side_becomes_the_target_and_the_long_side_is_truncated(int w, int h, int outW, int outH) =>
        Assert.Equal((outW, outH), Clip336.ResizedSize(w, h));

    [Fact]
    public void Exact_size_config_ignores_the_aspect_ratio()
    {
        var p = new ClipImageProcessor(new ImageProcessorConfig { ShortestEdge = null, ResizeHeight = 30, ResizeWidth = 40 });
        Assert.Equal((40, 30), p.ResizedSize(7, 5));
    }

    [Fact]
    public void Pad_colour_is_the_truncated_mean()
    {
        Assert.Equal(((byte)122, (byte)116, (byte)104), ClipImageProcessor.PadColor(new ImageProcessorConfig()));
    }

    [Fact]
    public void Expand_to_square_centres_the_image_on_the_fill_colour()
    {
        var square = ClipImageProcessor.ExpandToSquare(Numbered(3, 1), (9, 8, 7));
        Assert.Equal((3, 3), (square.Width, square.Height));
        // (side-h)/2 = 1: the single row lands in the middle; rows 0 and 2 are fill.
        Assert.Equal(new byte[] { 9, 8, 7, 9, 8, 7, 9, 8, 7 }, square.Pixels[..9]);
        Assert.Equal(Numbered(3, 1).Pixels, square.Pixels[9..18]);
        Assert.Equal(new byte[] { 9, 8, 7, 9, 8, 7, 9, 8, 7 }, square.Pixels[18..]);

        var tall = ClipImageProcessor.ExpandToSquare(Numbered(1, 4), (0, 0, 0));
        // (4-1)/2 = 1: one fill column on the left, two on the right.
        Assert.Equal(new byte[] { 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0 }, tall.Pixels[..12]);
    }

    [Fact]
    public void Center_crop_uses_floor_offsets()
    {
        var crop = ClipImageProcessor.CenterCrop(Numbered(5, 4), 2, 1);
        // left = (5-2)/2 = 1, top = (4-1)/2 = 1 → pixels (1,1) and (2,1) = numbers 7 and 8.
        Assert.Equal(new byte[] { 7, 7, 7, 8, 8, 8 }, crop.Pixels);
    }

    [Fact]
    public void Center_crop_pads_a_small_image_with_zeros_like_transformers()
    {
        // 2x3 into 4x4: placed at ceil((4-2)/2) = 1 horizontally and ceil((4-3)/2) = 1 vertically.
        var crop = ClipImageProcessor.CenterCrop(Numbered(2, 3), 4, 4);
        var expected = new byte[4 * 4 * 3];
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 2; x++)
                for (int c = 0; c < 3; c++) expected[((y + 1) * 4 + x + 1) * 3 + c] = (byte)(y * 2 + x + 1);
        Assert.Equal(expected, crop.Pixels);

        // Wider than the crop but shorter: cropped horizontally, padded vertically.
        var mixed = ClipImageProcessor.CenterCrop(Numbered(6, 1), 2, 3);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 3, 3, 3, 4, 4, 4, 0, 0, 0, 0, 0, 0 }, mixed.Pixels);
    }

    [Fact]
    public void Pad_to_square_is_switchable()
    {
        var image = RgbImage.Filled(40, 20, 0, 0, 0);
        var config = new ImageProcessorConfig { ShortestEdge = 20, CropHeight = 20, CropWidth = 20 };
        var padded = new ClipImageProcessor(config, padToSquare: true).Preprocess(image);
        var plain = new ClipImageProcessor(config, padToSquare: false).Preprocess(image);
        // Padded: the top rows come from the fill colour; plain: everything is the black image.
        Assert.Equal(new byte[] { 122, 116, 104 }, padded.Cropped.Pixels[..3]);
        Assert.All(plain.Cropped.Pixels, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Disabled_steps_are_skipped()
    {
        var config = new ImageProcessorConfig { DoResize = false, DoCenterCrop = false, DoRescale = false, DoNormalize = false };
        var result = new ClipImageProcessor(config, padToSquare: false).Preprocess(Numbered(3, 2));
        Assert.Equal((3, 2), (result.Width, result.Height));
        // CHW: channel 0 holds pixel numbers 1..6 as plain floats.
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, result.PixelValues[..6]);
    }

    [Fact]
    public void Extreme_aspect_ratio_is_refused_before_allocating()
    {
        var strip = RgbImage.Filled(1, 300_000, 1, 2, 3); // 336 x 100 800 000 after resizing
        var e = Assert.Throws<InvalidImageException>(() => new ClipImageProcessor(new ImageProcessorConfig { ShortestEdge = 336 }, padToSquare: false).Preprocess(strip));
        Assert.Contains("1x300000", e.Message);
    }

    [Fact]
    public void Invalid_settings_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new ClipImageProcessor(new ImageProcessorConfig { ImageMean = [0.5] }));
        Assert.Throws<ArgumentException>(() => new ClipImageProcessor(new ImageProcessorConfig { ShortestEdge = null }));
        Assert.Throws<ArgumentException>(() => new ClipImageProcessor(new ImageProcessorConfig { CropWidth = 0 }));
    }
}
