using System.Text.Json;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// The settings of a Hugging Face <c>CLIPImageProcessor</c>, read from <c>preprocessor_config.json</c>.
/// Property defaults are the <c>CLIPImageProcessor</c> defaults (shortest edge 224, bicubic, centre crop 224x224,
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
    public static ImageProcessorConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException(path, "(file)", "file not found.");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ConfigException(path, "(file)", $"not valid JSON: {e.Message}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigException(path, "(root)", "expected a JSON object.");
            return Parse(path, doc.RootElement);
        }
    }

    static ImageProcessorConfig Parse(string path, JsonElement root)
    {
        var c = new ImageProcessorConfig();
        var reader = new Reader(path, root);
        c = c with
        {
            DoResize = reader.Bool("do_resize") ?? c.DoResize,
            DoCenterCrop = reader.Bool("do_center_crop") ?? c.DoCenterCrop,
            DoRescale = reader.Bool("do_rescale") ?? c.DoRescale,
            DoNormalize = reader.Bool("do_normalize") ?? c.DoNormalize,
            DoConvertRgb = reader.Bool("do_convert_rgb") ?? c.DoConvertRgb,
            RescaleFactor = reader.Number("rescale_factor") ?? c.RescaleFactor,
            ImageMean = reader.PerChannel("image_mean") ?? c.ImageMean,
            ImageStd = reader.PerChannel("image_std") ?? c.ImageStd,
        };

        if (root.TryGetProperty("resample", out var resample))
        {
            int code = reader.PositiveOrZeroInt(resample, "resample");
            if (code != (int)ResampleFilter.Bicubic && code != (int)ResampleFilter.Bilinear)
                throw new ConfigException(path, "resample", $"value {code} is not supported; only 3 (bicubic) and 2 (bilinear) are.");
            c = c with { Resample = (ResampleFilter)code };
        }

        if (root.TryGetProperty("size", out var size))
        {
            if (size.ValueKind == JsonValueKind.Number)
            {
                // transformers reads a bare number for CLIP (default_to_square=False) as the shortest edge.
                c = c with { ShortestEdge = reader.PositiveInt(size, "size"), ResizeHeight = null, ResizeWidth = null };
            }
            else if (size.ValueKind == JsonValueKind.Object)
            {
                bool hasEdge = size.TryGetProperty("shortest_edge", out var edge);
                bool hasH = size.TryGetProperty("height", out var h);
                bool hasW = size.TryGetProperty("width", out var w);
                if (size.TryGetProperty("longest_edge", out _))
                    throw new ConfigException(path, "size.longest_edge", "is not supported by CLIP preprocessing.");
                if (hasEdge && !hasH && !hasW)
                    c = c with { ShortestEdge = reader.PositiveInt(edge, "size.shortest_edge"), ResizeHeight = null, ResizeWidth = null };
                else if (!hasEdge && hasH && hasW)
                    c = c with { ShortestEdge = null, ResizeHeight = reader.PositiveInt(h, "size.height"), ResizeWidth = reader.PositiveInt(w, "size.width") };
                else
                    throw new ConfigException(path, "size", "expected {\"shortest_edge\": N} or {\"height\": H, \"width\": W}.");
            }
            else
            {
                throw new ConfigException(path, "size", $"expected a number or an object, got {size.ValueKind}.");
            }
        }

        if (root.TryGetProperty("crop_size", out var crop))
        {
            if (crop.ValueKind == JsonValueKind.Number)
            {
                int n = reader.PositiveInt(crop, "crop_size");
                c = c with { CropHeight = n, CropWidth = n };
            }
            else if (crop.ValueKind == JsonValueKind.Object && crop.TryGetProperty("height", out var h) && crop.TryGetProperty("width", out var w))
            {
                c = c with { CropHeight = reader.PositiveInt(h, "crop_size.height"), CropWidth = reader.PositiveInt(w, "crop_size.width") };
            }
            else
            {
                throw new ConfigException(path, "crop_size", "expected a number or {\"height\": H, \"width\": W}.");
            }
        }

        for (int i = 0; i < 3; i++)
            if (!(c.ImageStd[i] != 0) || !double.IsFinite(c.ImageStd[i]))
                throw new ConfigException(path, "image_std", $"channel {i} is {c.ImageStd[i]}; a standard deviation must be finite and non-zero.");
        if (!double.IsFinite(c.RescaleFactor))
            throw new ConfigException(path, "rescale_factor", $"must be finite, got {c.RescaleFactor}.");
        return c;
    }

    /// <summary>Typed access to the JSON keys, each failure naming the file and the key.</summary>
    readonly struct Reader(string path, JsonElement root)
    {
        public bool? Bool(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new ConfigException(path, key, $"expected true or false, got {v.GetRawText()}."),
            };
        }

        public double? Number(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new ConfigException(path, key, $"expected a number, got {v.GetRawText()}.");
        }

        /// <summary>Three per-channel numbers; a single number applies to all channels, as transformers allows.</summary>
        public IReadOnlyList<double>? PerChannel(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.Number) return [v.GetDouble(), v.GetDouble(), v.GetDouble()];
            if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3 || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number))
                throw new ConfigException(path, key, $"expected a list of 3 numbers (R, G, B), got {v.GetRawText()}.");
            return v.EnumerateArray().Select(e => e.GetDouble()).ToArray();
        }

        public int PositiveOrZeroInt(JsonElement v, string key)
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 0)
                throw new ConfigException(path, key, $"expected a non-negative integer, got {v.GetRawText()}.");
            return n;
        }

        public int PositiveInt(JsonElement v, string key)
        {
            int n = PositiveOrZeroInt(v, key);
            return n > 0 ? n : throw new ConfigException(path, key, "must be greater than 0.");
        }
    }
}
