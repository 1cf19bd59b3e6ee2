namespace LlavaModal.Abstractions.Modality;

/// <summary>What a plugin learned about an input while preparing it, carried with the prepared input.</summary>
/// <param name="Width">Original width in pixels (images, video frames).</param>
/// <param name="Height">Original height in pixels.</param>
/// <param name="Frames">Frames (video) or windows (long audio).</param>
/// <param name="SampleRate">Samples per second (audio), after resampling.</param>
/// <param name="Duration">Length (audio, video).</param>
public sealed record InputMetadata(int? Width = null, int? Height = null, int? Frames = null, int? SampleRate = null, TimeSpan? Duration = null)
{
    /// <summary>Nothing known.</summary>
    public static InputMetadata None { get; } = new();
}
