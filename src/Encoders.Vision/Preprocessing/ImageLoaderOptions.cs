namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>Limits and behaviour of <see cref="ImageLoader"/>.</summary>
public sealed record ImageLoaderOptions
{
    /// <summary>Default <see cref="MaxPixels"/>: 64 megapixels (about 256 MB as RGBA while decoding).</summary>
    public const long DefaultMaxPixels = 64L * 1000 * 1000;

    /// <summary>
    /// Largest accepted width x height, checked from the header before any pixel is decoded, so a small file
    /// declaring a huge image (a decompression bomb) is refused without allocating it.
    /// </summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>Default <see cref="MaxEncodedBytes"/>: 256 MiB.</summary>
    public const long DefaultMaxEncodedBytes = 256L * 1024 * 1024;

    /// <summary>Largest accepted encoded input (file or stream length); the whole input is held in memory while decoding.</summary>
    public long MaxEncodedBytes { get; init; } = DefaultMaxEncodedBytes;

    /// <summary>
    /// Rotate / flip the image as its EXIF <c>Orientation</c> tag says (default <see langword="true"/>): a phone photo then
    /// looks upright, as the user saw it. transformers' <c>load_image</c> does the same (Pillow's <c>exif_transpose</c>);
    /// set <see langword="false"/> to get the pixels as stored, as a bare <c>Image.open(...).convert("RGB")</c> does.
    /// </summary>
    public bool ApplyExifOrientation { get; init; } = true;
}
