using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>The output of <see cref="IImageProcessor.Preprocess"/>: the resized (and, for CLIP, cropped) 8-bit image and the model input.</summary>
public sealed class PreprocessedImage
{
    internal PreprocessedImage(RgbImage cropped, float[] pixelValues)
    {
        Cropped = cropped;
        PixelValues = pixelValues;
    }

    /// <summary>The image after padding, resizing and centre cropping, before rescaling (HWC, uint8).</summary>
    public RgbImage Cropped { get; }

    /// <summary>Rescaled and normalised pixels, channel-major (CHW: <c>[c * Height * Width + y * Width + x]</c>).</summary>
    public float[] PixelValues { get; }

    /// <summary>Height of <see cref="PixelValues"/>.</summary>
    public int Height => Cropped.Height;

    /// <summary>Width of <see cref="PixelValues"/>.</summary>
    public int Width => Cropped.Width;

    /// <summary>The pixel values as a new float32 tensor <c>[1, 3, Height, Width]</c> (the <c>pixel_values</c> a CLIP vision tower takes).</summary>
    public Tensor ToTensor(Device? device = null)
    {
        var t = torch.tensor(PixelValues, [1, 3, Height, Width], ScalarType.Float32);
        if (device is null || device.type == DeviceType.CPU) return t;
        using (t) return t.to(device);
    }
}
