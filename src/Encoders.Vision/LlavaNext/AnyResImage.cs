using LlavaModal.Encoders.Vision.Preprocessing;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.LlavaNext;

/// <summary>The output of <see cref="LlavaNextImageProcessor.Preprocess"/>: the layout, the padded canvas, the tiles and the model input.</summary>
public sealed class AnyResImage
{
    internal AnyResImage(AnyResLayout layout, RgbImage canvas, IReadOnlyList<RgbImage> tiles, float[] pixelValues, int tileSize)
    {
        Layout = layout;
        Canvas = canvas;
        Tiles = tiles;
        PixelValues = pixelValues;
        TileSize = tileSize;
    }

    /// <summary>Where the image's pixels and features go, and its token count.</summary>
    public AnyResLayout Layout { get; }

    /// <summary>The image resized to fit the chosen pinpoint and centred on black (HWC, uint8).</summary>
    public RgbImage Canvas { get; }

    /// <summary>The base image then the canvas tiles in row-major order, each after the CLIP resize and crop, before rescaling (HWC, uint8).</summary>
    public IReadOnlyList<RgbImage> Tiles { get; }

    /// <summary>Rescaled and normalised tiles, <c>[tile, channel, y, x]</c> flattened.</summary>
    public float[] PixelValues { get; }

    /// <summary>Side of one tile in pixels.</summary>
    public int TileSize { get; }

    /// <summary>The pixel values as a new float32 tensor <c>[tiles, 3, TileSize, TileSize]</c>.</summary>
    public Tensor ToTensor() => torch.tensor(PixelValues, [Tiles.Count, 3, TileSize, TileSize], ScalarType.Float32);
}
