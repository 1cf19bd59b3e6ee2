using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Tests.Encoders.Vision;

public class ImageLoaderTests
{
    static readonly ImageLoader Loader = new();

    static InvalidImageException Fails(byte[] data, ImageLoader? loader = null) =>
        Assert.Throws<InvalidImageException>(() => (loader ?? Loader).Load(data, "test-image"));

    /// <summary>A PNG consisting of a valid signature, IHDR and IEND only: a header that declares any size for free.</summary>
    static byte[] PngHeaderOnly(int width, int height)
    {
        using var s = new MemoryStream();
        s.Write(PngChunks.Signature);
        PngChunks.Write(s, "IHDR", PngChunks.RgbHeader(width, height));
        PngChunks.Write(s, "IEND", []);
        return s.ToArray();
    }

    static byte[] Encode<TPixel>(Image<TPixel> image, bool jpeg = false) where TPixel : unmanaged, IPixel<TPixel>
    {
        using var s = new MemoryStream();
        if (jpeg) image.Save(s, new JpegEncoder { Quality = 95 });
        else image.Save(s, new PngEncoder { TransparentColorMode = PngTransparentColorMode.Preserve });
        return s.ToArray();
    }

    [Fact]
    public void Decompression_bomb_is_refused_from_the_header()
    {
        var e = Fails(PngHeaderOnly(100_000, 100_000));
        Assert.Contains("100000x100000", e.Message);
        Assert.Contains(ImageLoaderOptions.DefaultMaxPixels.ToString(), e.Message);
        Assert.StartsWith("test-image:", e.Message);
    }

    [Fact]
    public void Pixel_limit_is_configurable()
    {
        var path = PreprocessFixtures.ImagePath("img2"); // 7x5 = 35 pixels
        var strict = new ImageLoader(new ImageLoaderOptions { MaxPixels = 34 });
        var e = Assert.Throws<InvalidImageException>(() => strict.LoadFile(path));
        Assert.Contains("7x5", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.ImageSource);
        Assert.Equal(7, new ImageLoader(new ImageLoaderOptions { MaxPixels = 35 }).LoadFile(path).Width);
    }

    [Fact]
    public void Truncated_png_is_refused()
    {
        var bytes = File.ReadAllBytes(PreprocessFixtures.ImagePath("img0"));
        var e = Fails(bytes[..(bytes.Length / 2)]);
        Assert.StartsWith("test-image:", e.Message);
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(0.9)]
    public void Truncated_jpeg_is_refused(double keep)
    {
        var bytes = File.ReadAllBytes(PreprocessFixtures.ImagePath("img1"));
        Assert.Contains("truncated JPEG", Fails(bytes[..(int)(bytes.Length * keep)]).Message);
    }

    [Fact]
    public void Png_missing_only_its_final_chunk_is_refused()
    {
        var bytes = File.ReadAllBytes(PreprocessFixtures.ImagePath("img2"));
        Assert.Contains("IEND", Fails(bytes[..^12]).Message);
    }

    [Fact]
    public void Bytes_after_the_end_of_a_jpeg_are_ignored()
    {
        var bytes = File.ReadAllBytes(PreprocessFixtures.ImagePath("img1"));
        var padded = bytes.Concat(new byte[100]).ToArray();
        Assert.Equal(Loader.Load(bytes).Pixels, Loader.Load(padded).Pixels);
    }

    [Fact]
    public void Encoded_size_limit_is_enforced_for_every_input_kind()
    {
        var path = PreprocessFixtures.ImagePath("img2");
        var bytes = File.ReadAllBytes(path);
        var strict = new ImageLoader(new ImageLoaderOptions { MaxEncodedBytes = bytes.Length - 1 });
        Assert.Contains("MaxEncodedBytes", Assert.Throws<InvalidImageException>(() => strict.LoadFile(path)).Message);
        Assert.Throws<InvalidImageException>(() => strict.Load(bytes));
        Assert.Throws<InvalidImageException>(() => strict.Load(new MemoryStream(bytes)));
    }

    [Fact]
    public void Random_bytes_are_refused()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        Assert.Contains("unknown or unsupported image format", Fails(bytes).Message);
    }

    [Fact]
    public void Empty_input_is_refused()
    {
        Assert.Contains("empty", Fails([]).Message);
        Assert.Throws<InvalidImageException>(() => Loader.Load(new MemoryStream(), "empty-stream"));
    }

    [Fact]
    public void Missing_file_is_refused()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<InvalidImageException>(() => Loader.LoadFile(dir.File("nope.png")));
        Assert.Contains("nope.png", e.Message);
    }

    [Fact]
    public void Stream_file_and_bytes_decode_the_same()
    {
        var path = PreprocessFixtures.ImagePath("img4");
        var fromFile = Loader.LoadFile(path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(fromFile.Pixels, Loader.Load(bytes).Pixels);
        using var forwardOnly = new NonSeekableStream(bytes);
        Assert.Equal(fromFile.Pixels, Loader.Load(forwardOnly).Pixels);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Exif_orientation_is_applied_only_when_enabled(bool jpeg)
    {
        using var image = new Image<Rgba32>(6, 2, new Rgba32(10, 200, 30, 255));
        image[0, 0] = new Rgba32(255, 0, 0, 255);
        image.Metadata.ExifProfile = new ExifProfile();
        image.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6); // "rotate 90° clockwise to display"
        var bytes = Encode(image, jpeg);

        var upright = new ImageLoader(new ImageLoaderOptions { ApplyExifOrientation = true }).Load(bytes);
        var raw = new ImageLoader(new ImageLoaderOptions { ApplyExifOrientation = false }).Load(bytes);

        Assert.Equal((2, 6), (upright.Width, upright.Height));
        Assert.Equal((6, 2), (raw.Width, raw.Height));
        if (!jpeg)
        {
            // Rotating clockwise moves the top-left pixel to the top-right.
            Assert.Equal(new byte[] { 255, 0, 0 }, raw.Pixels[..3]);
            Assert.Equal(new byte[] { 255, 0, 0 }, upright.Pixels[3..6]);
        }
    }

    [Fact]
    public void Alpha_is_dropped_without_touching_the_colour_underneath()
    {
        using var image = new Image<Rgba32>(3, 1);
        image[0, 0] = new Rgba32(10, 20, 30, 0);
        image[1, 0] = new Rgba32(200, 100, 50, 128);
        image[2, 0] = new Rgba32(1, 2, 3, 255);
        var rgb = Loader.Load(Encode(image));
        Assert.Equal(new byte[] { 10, 20, 30, 200, 100, 50, 1, 2, 3 }, rgb.Pixels);
    }

    [Fact]
    public void Gray_becomes_equal_channels()
    {
        using var image = new Image<L8>(2, 1);
        image[0, 0] = new L8(7);
        image[1, 0] = new L8(250);
        var rgb = Loader.Load(Encode(image));
        Assert.Equal(new byte[] { 7, 7, 7, 250, 250, 250 }, rgb.Pixels);
    }

    [Fact]
    public void Sixteen_bit_png_keeps_the_high_byte_like_pillow()
    {
        using var image = new Image<Rgba64>(1, 1);
        image[0, 0] = new Rgba64(0x12FF, 0x0080, 0xFFFF, 0xFFFF); // rounding to 8 bits would give 0x13, 0x01, 0xFF
        using var s = new MemoryStream();
        image.Save(s, new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.RgbWithAlpha });
        Assert.Equal(new byte[] { 0x12, 0x00, 0xFF }, Loader.Load(s.ToArray()).Pixels);
    }

    [Fact]
    public void Animated_gif_gives_its_first_frame()
    {
        using var image = new Image<Rgba32>(4, 4, new Rgba32(255, 0, 0, 255));
        using var second = new Image<Rgba32>(4, 4, new Rgba32(0, 0, 255, 255));
        image.Frames.AddFrame(second.Frames.RootFrame);
        using var s = new MemoryStream();
        image.SaveAsGif(s);
        var rgb = Loader.Load(s.ToArray());
        Assert.Equal((4, 4), (rgb.Width, rgb.Height));
        Assert.Equal(new byte[] { 255, 0, 0 }, rgb.Pixels[..3]);
    }

    sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => base.Position; set => throw new NotSupportedException(); }
    }
}
