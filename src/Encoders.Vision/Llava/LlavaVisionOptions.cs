namespace LlavaModal.Encoders.Vision.Llava;

/// <summary>Options of the LLaVA image plugin.</summary>
public sealed record LlavaVisionOptions
{
    /// <summary>
    /// Pad images to a square with the processor's mean colour before a CLIP processor resizes them (LLaVA-1.5; default true).
    /// False gives the plain processor (centre crop). SigLIP processors (LLaVA-Interleave) never pad, as the reference.
    /// </summary>
    public bool PadToSquare { get; init; } = true;

    /// <summary>Decoding limits and EXIF handling.</summary>
    public Preprocessing.ImageLoaderOptions Loader { get; init; } = new();

    /// <summary>Frame limits of the video modality (LLaVA-OneVision).</summary>
    public Video.VideoOptions Video { get; init; } = new();
}
