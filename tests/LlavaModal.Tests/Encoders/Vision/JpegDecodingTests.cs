using System.Buffers.Binary;
using System.Text;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using SkiaSharp;
using Xunit.Abstractions;

namespace LlavaModal.Tests.Encoders.Vision;

/// <summary>
/// JPEG decoding against libjpeg-turbo as Pillow drives it (the transformers reference), on the fixtures of
/// <c>tests/fixtures/jpeg</c> (made and checked as its README says) and on the llava-tiny-a photo.
/// </summary>
public class JpegDecodingTests(ITestOutputHelper output)
{
    static readonly ImageLoader Loader = new();
    static readonly ImageLoader AsStored = new(new ImageLoaderOptions { ApplyExifOrientation = false });

    static string JpegFixture(string name) => Fixtures.Path_("jpeg", name);

    static byte[] ReadJpeg(string kind) => File.ReadAllBytes(JpegFixture(kind + ".jpg"));

    /// <summary>The reference decode, read with ImageSharp directly (gray PNGs come out as R = G = B).</summary>
    static RgbImage Expected(string kind)
    {
        using var png = SixLabors.ImageSharp.Image.Load<Rgb24>(JpegFixture(Path.Combine("expected", kind + ".png")));
        var pixels = new byte[png.Width * png.Height * 3];
        png.CopyPixelDataTo(pixels);
        return new RgbImage(png.Width, png.Height, pixels);
    }

    void AssertSamePixels(RgbImage expected, RgbImage actual, string what)
    {
        Assert.Equal((expected.Width, expected.Height), (actual.Width, actual.Height));
        var (max, exact, within1) = PreprocessFixtures.Compare(expected.Pixels, actual.Pixels);
        output.WriteLine($"{what}: max diff {max}, exact {exact:F3}%, within ±1 {within1:F3}%");
        Assert.Equal(0, max);
    }

    [Fact]
    public void Fixture_photo_decodes_to_the_reference_pixels()
    {
        var ours = AsStored.LoadFile(PreprocessFixtures.ImagePath("img1"));
        AssertSamePixels(PreprocessFixtures.ReferenceDecodedImg1(), ours, "img1 (4:2:0 photo) vs Pillow");
    }

    [Theory]
    [InlineData("baseline_420")]
    [InlineData("baseline_422")]
    [InlineData("baseline_444")]
    [InlineData("baseline_440")]
    [InlineData("baseline_411")]
    [InlineData("progressive_420")]
    [InlineData("progressive_444")]
    [InlineData("restart_420")]
    [InlineData("arithmetic_420")]
    [InlineData("rgb")]
    [InlineData("gray")]
    [InlineData("progressive_gray")]
    [InlineData("cmyk_adobe")]
    [InlineData("ycck_adobe")]
    [InlineData("ycck_progressive")]
    [InlineData("cmyk_no_adobe")]
    public void Every_jpeg_kind_decodes_to_libjpeg_turbo_pixels(string kind)
    {
        AssertSamePixels(Expected(kind), Loader.Load(ReadJpeg(kind), kind), kind);
    }

    [Fact]
    public void Pillow_cmyk_to_rgb_equals_the_rounded_product_of_the_stored_values()
    {
        // The CMYK references come from djpeg (round(C' * K' / 255) on the stored, inverted values); Pillow unpacks
        // CMYK;I and runs cmyk2rgb. Both give the same byte for every pair, which is what lets djpeg stand in for Pillow.
        for (int stored = 0; stored < 256; stored++)
            for (int storedK = 0; storedK < 256; storedK++)
            {
                int c = 255 - stored, nk = 255 - (255 - storedK);
                int tmp = c * nk + 128;
                int pillow = Math.Clamp(nk - (((tmp >> 8) + tmp) >> 8), 0, 255);
                int rounded = (int)Math.Floor(stored * storedK / 255.0 + 0.5);
                Assert.Equal(rounded, pillow);
            }
    }

    /// <summary>Inserts a <paramref name="marker"/> segment holding <paramref name="payload"/> right after the SOI marker.</summary>
    static byte[] WithSegment(byte[] jpeg, byte marker, byte[] payload)
    {
        var segment = new byte[4 + payload.Length];
        segment[0] = 0xFF;
        segment[1] = marker;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)(payload.Length + 2));
        payload.CopyTo(segment, 4);
        return [.. jpeg[..2], .. segment, .. jpeg[2..]];
    }

    /// <summary>An APP1 EXIF payload whose IFD0 holds only Orientation (SHORT), in either byte order.</summary>
    static byte[] ExifOrientationPayload(int orientation, bool littleEndian)
    {
        var tiff = new byte[8 + 2 + 12 + 4];
        if (littleEndian)
        {
            "II*\0"u8.CopyTo(tiff);
            BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(4), 8);
            BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(8), 1);
            BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(10), 0x0112);
            BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(12), 3);
            BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(14), 1);
            BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(18), (ushort)orientation);
        }
        else
        {
            "MM\0*"u8.CopyTo(tiff);
            BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(4), 8);
            BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(8), 1);
            BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(10), 0x0112);
            BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(12), 3);
            BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(14), 1);
            BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(18), (ushort)orientation);
        }
        return [.. "Exif\0\0"u8, .. tiff];
    }

    static byte[] WithOrientation(byte[] jpeg, int orientation, bool littleEndian = false) =>
        WithSegment(jpeg, 0xE1, ExifOrientationPayload(orientation, littleEndian));

    // Stored: 3 x 2 flat 8x8 blocks   A B C
    //                                 D E F
    // Upright layouts from the EXIF standard's meaning of each value (where the stored first row and column belong).
    [Theory]
    [InlineData(1, "ABC/DEF", false)]
    [InlineData(2, "CBA/FED", true)]
    [InlineData(3, "FED/CBA", false)]
    [InlineData(4, "DEF/ABC", true)]
    [InlineData(5, "AD/BE/CF", false)]
    [InlineData(6, "DA/EB/FC", true)]
    [InlineData(7, "FC/EB/DA", false)]
    [InlineData(8, "CF/BE/AD", true)]
    public void Exif_orientation_turns_the_stored_image_upright(int orientation, string layout, bool littleEndian)
    {
        byte[] levels = [20, 60, 100, 140, 180, 220]; // A..F
        using var image = new Image<L8>(24, 16);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 24; x++)
                image[x, y] = new L8(levels[(y / 8) * 3 + x / 8]);
        using var s = new MemoryStream();
        image.Save(s, new JpegEncoder { Quality = 100, ColorType = JpegColorType.Luminance });

        var upright = Loader.Load(WithOrientation(s.ToArray(), orientation, littleEndian));

        var rows = layout.Split('/');
        Assert.Equal((rows[0].Length * 8, rows.Length * 8), (upright.Width, upright.Height));
        for (int by = 0; by < rows.Length; by++)
            for (int bx = 0; bx < rows[by].Length; bx++)
            {
                int centre = ((by * 8 + 4) * upright.Width + bx * 8 + 4) * 3;
                int want = levels[rows[by][bx] - 'A'];
                Assert.InRange(upright.Pixels[centre], want - 2, want + 2); // flat blocks survive quality 100 within rounding
            }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Exif_orientation_of_a_photo_matches_imagesharps_auto_orient_of_the_reference(int orientation)
    {
        var stored = Expected("baseline_420");
        using var reference = SixLabors.ImageSharp.Image.LoadPixelData<Rgb24>(stored.Pixels, stored.Width, stored.Height);
        reference.Metadata.ExifProfile = new ExifProfile();
        reference.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)orientation);
        reference.Mutate(x => x.AutoOrient());
        var expected = new byte[reference.Width * reference.Height * 3];
        reference.CopyPixelDataTo(expected);

        var ours = Loader.Load(WithOrientation(ReadJpeg("baseline_420"), orientation));

        AssertSamePixels(new RgbImage(reference.Width, reference.Height, expected), ours, $"orientation {orientation}");
        Assert.Equal(stored.Pixels, AsStored.Load(WithOrientation(ReadJpeg("baseline_420"), orientation)).Pixels);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    [InlineData(65535)]
    public void Orientation_values_outside_1_to_8_leave_the_image_as_stored(int orientation)
    {
        Assert.Equal(Expected("baseline_420").Pixels, Loader.Load(WithOrientation(ReadJpeg("baseline_420"), orientation)).Pixels);
    }

    [Fact]
    public void Only_the_first_exif_segment_counts_as_in_pillow()
    {
        var jpeg = WithOrientation(WithOrientation(ReadJpeg("baseline_420"), 3), 6); // the 6 comes first in the file
        var image = Loader.Load(jpeg);
        Assert.Equal((103, 155), (image.Width, image.Height));
    }

    [Fact]
    public void Embedded_icc_profile_is_ignored_as_pillows_convert_rgb_ignores_it()
    {
        var jpeg = WithSegment(ReadJpeg("baseline_420"), 0xE2, [.. "ICC_PROFILE\0"u8, 1, 1, .. Gamma26Profile()]);

        // The profile is real: Skia converts with it when asked for sRGB output ...
        using (var data = SKData.CreateCopy(jpeg))
        using (var codec = SKCodec.Create(data))
        {
            var managed = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul, SKColorSpace.CreateSrgb());
            Assert.Equal(SKCodecResult.Success, codec.GetPixels(managed, out byte[] converted));
            var plain = Expected("baseline_420").Pixels;
            int changed = Enumerable.Range(0, plain.Length / 3).Count(i => Math.Abs(plain[i * 3] - converted[i * 4]) > 2);
            Assert.True(changed > plain.Length / 3 / 2, $"only {changed} pixels changed by colour management");
        }
        // ... and the loader does not ask.
        AssertSamePixels(Expected("baseline_420"), Loader.Load(jpeg), "with an ICC profile");
    }

    /// <summary>A minimal ICC v2 RGB display profile: sRGB-like primaries but a pure 2.6 gamma, far from sRGB's curve.</summary>
    static byte[] Gamma26Profile()
    {
        (string Tag, byte[] Data)[] tags =
        [
            ("rXYZ", Xyz(0.4361, 0.2225, 0.0139)),
            ("gXYZ", Xyz(0.3851, 0.7169, 0.0971)),
            ("bXYZ", Xyz(0.1431, 0.0606, 0.7141)),
            ("wtpt", Xyz(0.9642, 1.0, 0.8249)),
            ("rTRC", Curve(2.6)),
            ("gTRC", Curve(2.6)),
            ("bTRC", Curve(2.6)),
        ];
        int tableEnd = 128 + 4 + 12 * tags.Length;
        int size = tableEnd + tags.Sum(t => t.Data.Length);
        var p = new byte[size];
        BinaryPrimitives.WriteUInt32BigEndian(p, (uint)size);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(8), 0x02100000);
        Encoding.ASCII.GetBytes("mntrRGB XYZ ").CopyTo(p, 12);
        Encoding.ASCII.GetBytes("acsp").CopyTo(p, 36);
        Xyz(0.9642, 1.0, 0.8249).AsSpan(8).CopyTo(p.AsSpan(68)); // PCS illuminant D50
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(128), (uint)tags.Length);
        int offset = tableEnd;
        for (int i = 0; i < tags.Length; i++)
        {
            Encoding.ASCII.GetBytes(tags[i].Tag).CopyTo(p, 132 + 12 * i);
            BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(136 + 12 * i), (uint)offset);
            BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(140 + 12 * i), (uint)tags[i].Data.Length);
            tags[i].Data.CopyTo(p, offset);
            offset += tags[i].Data.Length;
        }
        return p;

        static byte[] Xyz(double x, double y, double z)
        {
            var b = new byte[20];
            Encoding.ASCII.GetBytes("XYZ ").CopyTo(b, 0);
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), (int)Math.Round(x * 65536));
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(12), (int)Math.Round(y * 65536));
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), (int)Math.Round(z * 65536));
            return b;
        }

        static byte[] Curve(double gamma)
        {
            var b = new byte[16]; // 14 bytes of data, padded to a multiple of 4
            Encoding.ASCII.GetBytes("curv").CopyTo(b, 0);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), 1);
            BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(12), (ushort)Math.Round(gamma * 256));
            return b;
        }
    }

    [Fact]
    public void Stray_bytes_before_a_marker_are_skipped_as_libjpeg_and_pillow_do()
    {
        var jpeg = ReadJpeg("baseline_420");
        byte[] padded = [.. jpeg[..2], 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, .. jpeg[2..]]; // an APPO segment, then 2 stray zeros
        AssertSamePixels(Expected("baseline_420"), Loader.Load(padded), "with stray bytes");
    }

    [Theory]
    [InlineData("baseline_420")]
    [InlineData("progressive_420")]
    [InlineData("ycck_progressive")]
    [InlineData("arithmetic_420")]
    public void Truncated_jpeg_is_refused_wherever_it_is_cut(string kind)
    {
        var jpeg = ReadJpeg(kind);
        for (int cut = 1; cut < jpeg.Length; cut += Math.Max(1, jpeg.Length / 97))
        {
            var e = Assert.Throws<InvalidImageException>(() => Loader.Load(jpeg[..cut], "cut.jpg"));
            Assert.StartsWith("cut.jpg:", e.Message);
        }
        Assert.Throws<InvalidImageException>(() => Loader.Load(jpeg[..^2], "cut.jpg")); // only EOI missing
    }

    [Fact]
    public void Truncated_file_is_named_in_the_error()
    {
        using var dir = new TempDir();
        var path = dir.File("photo.jpg");
        File.WriteAllBytes(path, ReadJpeg("baseline_420")[..3000]);
        var e = Assert.Throws<InvalidImageException>(() => Loader.LoadFile(path));
        Assert.Equal(path, e.ImageSource);
        Assert.Contains("truncated JPEG", e.Message);
    }

    [Theory]
    [InlineData("baseline_420")]
    [InlineData("progressive_420")]
    [InlineData("ycck_adobe")]
    [InlineData("gray")]
    public void Corrupt_jpeg_data_is_refused_or_decoded_never_anything_else(string kind)
    {
        // Pillow decodes some damaged entropy-coded data with visible damage (libjpeg only warns), so either outcome is
        // fine; what must never happen is another exception type or a crash of the native decoder.
        var jpeg = ReadJpeg(kind);
        var random = new Random(14);
        int refused = 0, decoded = 0;
        for (int trial = 0; trial < 150; trial++)
        {
            var bad = (byte[])jpeg.Clone();
            int flips = 1 + random.Next(8);
            for (int i = 0; i < flips; i++) bad[2 + random.Next(bad.Length - 4)] = (byte)random.Next(256);
            try
            {
                var image = Loader.Load(bad, "bad.jpg");
                Assert.Equal(image.Width * image.Height * 3, image.Pixels.Length);
                decoded++;
            }
            catch (InvalidImageException e)
            {
                Assert.StartsWith("bad.jpg:", e.Message);
                refused++;
            }
        }
        output.WriteLine($"{kind}: {decoded} decoded, {refused} refused");
    }

    /// <summary>SOI, a frame header declaring <paramref name="width"/> x <paramref name="height"/>, SOS, EOI: no pixel data at all.</summary>
    static byte[] HeaderOnlyJpeg(int width, int height, byte precision = 8, byte frameMarker = 0xC0)
    {
        byte[] sof = [precision, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 1, 1, 0x11, 0];
        byte[] sos = [1, 1, 0, 0, 63, 0];
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
        jpeg = WithSegment(jpeg, 0xDA, sos);
        return WithSegment(jpeg, frameMarker, sof);
    }

    [Fact]
    public void Decompression_bomb_is_refused_from_the_frame_header()
    {
        var e = Assert.Throws<InvalidImageException>(() => Loader.Load(HeaderOnlyJpeg(60000, 60000), "bomb.jpg"));
        Assert.Contains("60000x60000", e.Message);
        Assert.Contains("MaxPixels", e.Message);
    }

    [Fact]
    public void Pixel_limit_holds_for_jpeg()
    {
        var jpeg = ReadJpeg("progressive_420"); // 155 x 103 = 15965 pixels
        var e = Assert.Throws<InvalidImageException>(() => new ImageLoader(new ImageLoaderOptions { MaxPixels = 15964 }).Load(jpeg, "p.jpg"));
        Assert.Contains("155x103", e.Message);
        Assert.Equal(155, new ImageLoader(new ImageLoaderOptions { MaxPixels = 15965 }).Load(jpeg).Width);
    }

    [Fact]
    public void Zero_height_frame_is_refused()
    {
        Assert.Contains("invalid image size 16x0", Assert.Throws<InvalidImageException>(() => Loader.Load(HeaderOnlyJpeg(16, 0))).Message);
    }

    [Theory]
    [InlineData(12, 0xC1, "12-bit")]
    [InlineData(8, 0xC3, "lossless")]
    public void Jpeg_kinds_pillow_cannot_decode_are_refused(byte precision, byte frameMarker, string reason)
    {
        Assert.Contains(reason, Assert.Throws<InvalidImageException>(() => Loader.Load(HeaderOnlyJpeg(16, 16, precision, frameMarker))).Message);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xD8 })]
    [InlineData(new byte[] { 0xFF, 0xD8, 0x00, 0x10 })]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xD9 })]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xD8, 0xFF, 0xD9 })]
    public void Jpeg_without_a_frame_is_refused(byte[] data)
    {
        Assert.StartsWith("x.jpg:", Assert.Throws<InvalidImageException>(() => Loader.Load(data, "x.jpg")).Message);
    }
}
