using System.Text.Json;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Configuration;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// The settings of a Hugging Face image processor (<c>CLIPImageProcessor</c>, <c>SiglipImageProcessor</c>), read from
/// <c>preprocessor_config.json</c>. Property defaults are the <c>CLIPImageProcessor</c> defaults (shortest edge 224, bicubic, centre crop 224x224,
/// rescale 1/255, OpenAI CLIP mean / std, convert to RGB), used for any key the file leaves out and when the file is missing.
/// </summary>
public sealed record ImageProcessorConfig
{
    /// <summary>The file name Hugging Face checkpoints use.</summary>
    public const string FileName = "preprocessor_config.json";

    /// <summary>Resize before cropping (<c>do_resize</c>).</summary>
    public bool DoResize { get; init; } = true;

    /// <summary>Resize so the short side has this length, keeping the aspect ratio (<c>size.shortest_edge</c>); <see langword="null"/> when <see cref="ResizeHeight"/> / <see cref="ResizeWidth"/> are set.</summary>
    public int? ShortestEdge { get; init; } = 224;

    /// <summary>Exact resize height (<c>size.height</c>); used when <see cref="ShortestEdge"/> is <see langword="null"/>.</summary>
    public int? ResizeHeight { get; init; }

    /// <summary>Exact resize width (<c>size.width</c>); used when <see cref="ShortestEdge"/> is <see langword="null"/>.</summary>
    public int? ResizeWidth { get; init; }

    /// <summary>Resampling filter (<c>resample</c>, Pillow numbering).</summary>
    public ResampleFilter Resample { get; init; } = ResampleFilter.Bicubic;

    /// <summary>Centre crop after resizing (<c>do_center_crop</c>).</summary>
    public bool DoCenterCrop { get; init; } = true;

    /// <summary>Crop height (<c>crop_size.height</c>, or <c>crop_size</c> when it is a number).</summary>
    public int CropHeight { get; init; } = 224;

    /// <summary>Crop width (<c>crop_size.width</c>, or <c>crop_size</c> when it is a number).</summary>
    public int CropWidth { get; init; } = 224;

    /// <summary>Multiply pixels by <see cref="RescaleFactor"/> (<c>do_rescale</c>).</summary>
    public bool DoRescale { get; init; } = true;

    /// <summary>Rescale factor (<c>rescale_factor</c>), 1/255 by default.</summary>
    public double RescaleFactor { get; init; } = 1.0 / 255;

    /// <summary>Subtract <see cref="ImageMean"/> and divide by <see cref="ImageStd"/> per channel (<c>do_normalize</c>).</summary>
    public bool DoNormalize { get; init; } = true;

    /// <summary>Per-channel mean, R, G, B (<c>image_mean</c>); OpenAI CLIP's by default.</summary>
    public IReadOnlyList<double> ImageMean { get; init; } = [0.48145466, 0.4578275, 0.40821073];

    /// <summary>Per-channel standard deviation, R, G, B (<c>image_std</c>); OpenAI CLIP's by default.</summary>
    public IReadOnlyList<double> ImageStd { get; init; } = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>Convert to RGB first (<c>do_convert_rgb</c>). <see cref="RgbImage"/> is always RGB, so this is recorded only.</summary>
    public bool DoConvertRgb { get; init; } = true;

    /// <summary>
    /// Loads <see cref="FileName"/> from <paramref name="directory"/>; a checkpoint without one gets the
    /// <c>CLIPImageProcessor</c> defaults, as <c>transformers</c> would.
    /// </summary>
    /// <exception cref="ConfigException">The file is not valid JSON or a key holds a malformed or unsupported value.</exception>
    public static ImageProcessorConfig LoadFromDirectory(string directory)
    {
        var path = Path.Combine(directory, FileName);
        return File.Exists(path) ? Load(path) : new ImageProcessorConfig();
    }

    /// <summary>Loads a <c>preprocessor_config.json</c>; keys it leaves out keep their defaults, unknown keys are ignored.</summary>
    /// <exception cref="ConfigException">The file is missing, not valid JSON, or a key holds a malformed or unsupported value (the message names the file and key).</exception>
    public static ImageProcessorConfig Load(string path) => Load(path, new ImageProcessorConfig());

    /// <summary>Loads a <c>preprocessor_config.json</c> over another processor's defaults (<see cref="SiglipImageProcessor.Defaults"/>).</summary>
    /// <exception cref="ConfigException">The file is missing, not valid JSON, or a key holds a malformed or unsupported value (the message names the file and key).</exception>
    public static ImageProcessorConfig Load(string path, ImageProcessorConfig defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        var json = JsonConfig.Load(path);
        var c = defaults;
        c = c with
        {
            DoResize = json.Bool("do_resize", c.DoResize),
            DoCenterCrop = json.Bool("do_center_crop", c.DoCenterCrop),
            DoRescale = json.Bool("do_rescale", c.DoRescale),
            DoNormalize = json.Bool("do_normalize", c.DoNormalize),
            DoConvertRgb = json.Bool("do_convert_rgb", c.DoConvertRgb),
            RescaleFactor = json.Double("rescale_factor", c.RescaleFactor),
            ImageMean = PerChannel(json, "image_mean") ?? c.ImageMean,
            ImageStd = PerChannel(json, "image_std") ?? c.ImageStd,
        };

        if (json.Has("resample"))
        {
            int code = json.Int("resample");
            if (code != (int)ResampleFilter.Bicubic && code != (int)ResampleFilter.Bilinear)
                throw json.Error("resample", $"value {code} is not supported; only 3 (bicubic) and 2 (bilinear) are.");
            c = c with { Resample = (ResampleFilter)code };
        }

        if (json.TryGet("size", out var size))
        {
            if (size.ValueKind == JsonValueKind.Number)
            {
                // transformers reads a bare number for CLIP (default_to_square=False) as the shortest edge.
                c = c with { ShortestEdge = Positive(json, "size"), ResizeHeight = null, ResizeWidth = null };
            }
            else if (size.ValueKind == JsonValueKind.Object)
            {
                var s = json.Section("size");
                if (s.Has("longest_edge")) throw s.Error("longest_edge", "is not supported by CLIP preprocessing.");
                bool hasEdge = s.Has("shortest_edge"), hasH = s.Has("height"), hasW = s.Has("width");
                if (!hasEdge && !hasH && !hasW && (s.Has("min_pixels") || s.Has("max_pixels")))
                {
                    // Qwen2-VL's pixel budget, not a resize target: its processor reads min_pixels / max_pixels itself.
                }
                else if (hasEdge && !hasH && !hasW)
                    c = c with { ShortestEdge = Positive(s, "shortest_edge"), ResizeHeight = null, ResizeWidth = null };
                else if (!hasEdge && hasH && hasW)
                    c = c with { ShortestEdge = null, ResizeHeight = Positive(s, "height"), ResizeWidth = Positive(s, "width") };
                else
                    throw json.Error("size", "expected {\"shortest_edge\": N} or {\"height\": H, \"width\": W}.");
            }
            else
            {
                throw json.Error("size", $"expected a number or an object, got {size.ValueKind}.");
            }
        }

        if (json.TryGet("crop_size", out var crop))
        {
            if (crop.ValueKind == JsonValueKind.Number)
            {
                int n = Positive(json, "crop_size");
                c = c with { CropHeight = n, CropWidth = n };
            }
            else if (crop.ValueKind == JsonValueKind.Object && json.Section("crop_size") is var cs && cs.Has("height") && cs.Has("width"))
            {
                c = c with { CropHeight = Positive(cs, "height"), CropWidth = Positive(cs, "width") };
            }
            else
            {
                throw json.Error("crop_size", "expected a number or {\"height\": H, \"width\": W}.");
            }
        }

        for (int i = 0; i < 3; i++)
            if (!(c.ImageStd[i] != 0) || !double.IsFinite(c.ImageStd[i]))
                throw json.Error("image_std", $"channel {i} is {c.ImageStd[i]}; a standard deviation must be finite and non-zero.");
        if (!double.IsFinite(c.RescaleFactor))
            throw json.Error("rescale_factor", $"must be finite, got {c.RescaleFactor}.");
        CheckPixelRange(json, c);
        return c;
    }

    /// <summary>Largest magnitude a preprocessed pixel may reach (CLIP's are within ±3; unnormalised bytes reach 255).</summary>
    public const double MaxPixelMagnitude = 1e4;

    /// <summary>
    /// Refuses settings whose pixel values leave ±<see cref="MaxPixelMagnitude"/> (a rescale of 1e300, a mean of 1e30, a std
    /// of 1e-30): the vision tower's activations overflow and the model answers with one token forever.
    /// </summary>
    static void CheckPixelRange(JsonConfig json, ImageProcessorConfig c)
    {
        double largestInput = c.DoRescale ? 255 * Math.Abs(c.RescaleFactor) : 255;
        if (largestInput > MaxPixelMagnitude)
            throw json.Error("rescale_factor", $"{c.RescaleFactor} scales pixels up to {largestInput:G3}, beyond ±{MaxPixelMagnitude:G}; expected about 1/255.");
        if (!c.DoNormalize) return;
        for (int i = 0; i < 3; i++)
        {
            if (Math.Abs(c.ImageMean[i]) > MaxPixelMagnitude)
                throw json.Error("image_mean", $"channel {i} is {c.ImageMean[i]:G3}, beyond ±{MaxPixelMagnitude:G}.");
            double extreme = (largestInput + Math.Abs(c.ImageMean[i])) / Math.Abs(c.ImageStd[i]);
            if (!(extreme <= MaxPixelMagnitude))
                throw json.Error("image_std", $"channel {i} is {c.ImageStd[i]:G3}, which makes pixel values reach {extreme:G3}, beyond ±{MaxPixelMagnitude:G}.");
        }
    }

    static int Positive(JsonConfig json, string key)
    {
        if (!json.TryGet(key, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 0)
            throw json.Error(key, $"expected a non-negative integer, got {(json.TryGet(key, out var raw) ? raw.GetRawText() : "nothing")}.");
        return n > 0 ? n : throw json.Error(key, "must be greater than 0.");
    }

    /// <summary>Three per-channel numbers; a single number applies to all channels, as transformers allows.</summary>
    static IReadOnlyList<double>? PerChannel(JsonConfig json, string key)
    {
        if (!json.TryGet(key, out var v)) return null;
        var values = json.Doubles(key);
        if (v.ValueKind == JsonValueKind.Number) return [values[0], values[0], values[0]];
        if (values.Length != 3) throw json.Error(key, $"expected a list of 3 numbers (R, G, B), got {v.GetRawText()}.");
        return values;
    }
}
