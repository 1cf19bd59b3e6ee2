using LlavaModal.Abstractions.Modality;
using LlavaModal.Encoders.Vision.Preprocessing;
using static TorchSharp.torch;

namespace LlavaModal.Encoders.Vision.Video;

/// <summary>The frames of a video through a family's frame processor, stacked as the tower's input.</summary>
static class VideoPixels
{
    /// <summary>Pixel values [frames, 3, size, size] with the frame count and the frames' size in the metadata.</summary>
    /// <param name="frames">The decoded frames, in order.</param>
    /// <param name="processor">Resizes (and crops), rescales and normalises one frame to <paramref name="size"/> x <paramref name="size"/>.</param>
    /// <param name="size">The tower's input side.</param>
    /// <param name="tokens">Positions the video takes.</param>
    /// <param name="source">Names the video in errors.</param>
    /// <param name="cancellation">Checked between frames.</param>
    public static PreparedInput Prepare(IReadOnlyList<RgbImage> frames, IImageProcessor processor, int size, int tokens, string source, CancellationToken cancellation)
    {
        int plane = 3 * size * size;
        var pixels = new float[(long)plane * frames.Count];
        for (int i = 0; i < frames.Count; i++, cancellation.ThrowIfCancellationRequested())
            Array.Copy(processor.Preprocess(frames[i], $"{source} frame {i}").PixelValues, 0, pixels, (long)i * plane, plane);
        return new PreparedInput(tensor(pixels, [frames.Count, 3, size, size], ScalarType.Float32), tokens, source)
        {
            Metadata = new InputMetadata(Width: frames[0].Width, Height: frames[0].Height, Frames: frames.Count),
        };
    }
}
