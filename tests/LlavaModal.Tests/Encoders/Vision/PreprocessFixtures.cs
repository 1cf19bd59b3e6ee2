using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Tests.Support;

namespace LlavaModal.Tests.Encoders.Vision;

/// <summary>The reference images and <c>preprocess.safetensors</c> of the llava-tiny-a fixture.</summary>
static class PreprocessFixtures
{
    public static string ExpectedPath => Path.Combine(Fixtures.LlavaTinyA, "expected", "preprocess.safetensors");

    public static string ConfigPath => Path.Combine(Fixtures.LlavaTinyA, "preprocessor_config.json");

    public static readonly Dictionary<string, string> Files = new()
    {
        ["img0"] = "gradient_640x480.png",
        ["img1"] = "portrait_200x300.jpg",
        ["img2"] = "tiny_7x5.png",
        ["img3"] = "gray_320x240.png",
        ["img4"] = "rgba_256x192.png",
    };

    public static string ImagePath(string key) => Path.Combine(Fixtures.Images, Files[key]);

    public static byte[] ReadBytes(string tensor, out long[] shape)
    {
        using var f = SafeTensorsFile.Open(ExpectedPath);
        shape = f.Tensors[tensor].Shape;
        return f.ReadBytes(tensor);
    }

    public static float[] ReadFloats(string tensor, out long[] shape)
    {
        var bytes = ReadBytes(tensor, out shape);
        var floats = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, floats, 0, bytes.Length);
        return floats;
    }

    /// <summary>The reference's own JPEG decode of img1 (libjpeg-turbo), so the resampler can be checked apart from the decoder.</summary>
    public static RgbImage ReferenceDecodedImg1()
    {
        var bytes = ReadBytes("img1.decoded_rgb_u8", out var shape);
        return new RgbImage((int)shape[1], (int)shape[0], bytes);
    }

    /// <summary>Largest absolute difference, share of exact and of within-±1 values.</summary>
    public static (int Max, double Exact, double Within1) Compare(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int max = 0;
        long exact = 0, within1 = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(expected[i] - actual[i]);
            max = Math.Max(max, d);
            if (d == 0) exact++;
            if (d <= 1) within1++;
        }
        return (max, 100.0 * exact / expected.Length, 100.0 * within1 / expected.Length);
    }
}
