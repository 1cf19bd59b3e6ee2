namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>Options of the LLaVA image plugin.</summary>
public sealed record LlavaVisionOptions
{
    /// <summary>Pad images to a square with the CLIP mean colour before resizing (LLaVA-1.5; default true). False gives the plain processor (centre crop).</summary>
    public bool PadToSquare { get; init; } = true;

    /// <summary>Decoding limits and EXIF handling.</summary>
    public Preprocessing.ImageLoaderOptions Loader { get; init; } = new();
}
