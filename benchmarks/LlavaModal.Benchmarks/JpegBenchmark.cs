using System.Diagnostics;
using LlavaModal.Encoders.Vision.Preprocessing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>jpeg</c>: decoding a JPEG photo to RGB with the loader's libjpeg-turbo path (Pillow's pixels) against ImageSharp's
/// own decoder (the path used before, whose pixels differ), on generated 4:2:0 photos of a few sizes.
/// </summary>
static class JpegBenchmark
{
    public static int Run(BenchArgs args)
    {
        int reps = args.Int("--reps", 20, min: 1);
        bool json = args.Flag("--json");
        args.RejectUnknown();
        var loader = new ImageLoader();
        var rows = new List<(string Size, double Turbo, double ImageSharp)>();
        foreach (var (w, h) in new[] { (640, 480), (1920, 1080), (4032, 3024) })
        {
            var jpeg = Photo(w, h);
            double turbo = Median(reps, () => loader.Load(jpeg, "photo.jpg"));
            double sharp = Median(reps, () => { using var image = Image.Load<Rgb24>(jpeg); });
            rows.Add(($"{w}x{h}", turbo, sharp));
        }
        if (json) Console.WriteLine(Report.ToJson(rows.Select(r => new { size = r.Size, libjpeg_turbo_ms = r.Turbo, imagesharp_ms = r.ImageSharp })));
        else
        {
            Console.WriteLine($"jpeg: median of {reps} decodes of a generated 4:2:0 quality-90 photo; {Report.Machine()}");
            Report.Table(["size", "libjpeg-turbo (loader) ms", "ImageSharp ms", "ImageSharp / turbo"],
                rows.Select(r => (IReadOnlyList<string>)[r.Size, Report.F(r.Turbo, 1), Report.F(r.ImageSharp, 1), Report.F(r.ImageSharp / r.Turbo, 2)]));
        }
        return 0;
    }

    static double Median(int reps, Action decode)
    {
        decode();
        var times = new List<double>();
        for (int i = 0; i < reps; i++)
        {
            var clock = Stopwatch.StartNew();
            decode();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return Report.Median(times);
    }

    /// <summary>A photo-like image (smooth gradients with grain), JPEG-encoded at quality 90 with 4:2:0 subsampling.</summary>
    static byte[] Photo(int width, int height)
    {
        var random = new Random(14);
        using var image = new Image<Rgb24>(width, height);
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < width; x++)
                    row[x] = new Rgb24((byte)(x * 255 / width), (byte)(y * 255 / height), (byte)Math.Clamp(128 + random.Next(-20, 21), 0, 255));
            }
        });
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream, new JpegEncoder { Quality = 90, ColorType = JpegColorType.YCbCrRatio420 });
        return stream.ToArray();
    }
}
