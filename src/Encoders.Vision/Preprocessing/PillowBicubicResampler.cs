namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Resizes 8-bit images with the exact integer arithmetic of Pillow's <c>Image.resize</c> (libImaging
/// <c>Resample.c</c>), so resized pixels match the Hugging Face reference bit for bit.
/// Written by hand because no .NET library reproduces it: ImageSharp's bicubic differs from Pillow by up to 15 levels.
/// </summary>
/// <remarks>
/// What has to match: a separable filter, horizontal pass first, then vertical; the filter widened by the
/// scale factor when downscaling (antialiasing); per-output-pixel windows and weights computed in double
/// precision, normalised to sum 1, then rounded to 22-bit fixed point; integer accumulation from a half
/// rounding bias; and a clamp to 0..255 after EACH pass (the intermediate image is 8-bit). A pass whose
/// dimension does not change is skipped, as Pillow does.
/// </remarks>
static class PillowBicubicResampler
{
    /// <summary>Fixed-point fraction bits: 32-bit accumulator minus 8 result bits minus 2 bits of headroom for negative lobes.</summary>
    internal const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resizes <paramref name="image"/> to <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static RgbImage Resize(RgbImage image, int width, int height, ResampleFilter filter = ResampleFilter.Bicubic)
    {
        ArgumentNullException.ThrowIfNull(image);
        var pixels = Resize(image.Pixels, image.Width, image.Height, 3, width, height, filter);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>Resizes an interleaved 8-bit buffer of <paramref name="channels"/> bands (HWC).</summary>
    public static byte[] Resize(byte[] source, int inWidth, int inHeight, int channels, int outWidth, int outHeight, ResampleFilter filter)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outHeight);
        if (source.LongLength != (long)inWidth * inHeight * channels)
            throw new ArgumentException($"Expected {(long)inWidth * inHeight * channels} bytes, got {source.LongLength}.", nameof(source));

        bool horizontal = outWidth != inWidth;
        bool vertical = outHeight != inHeight;
        if (!horizontal && !vertical) return (byte[])source.Clone();

        var rows = Coefficients.Compute(inHeight, outHeight, filter);
        // Only source rows some output row reads need the horizontal pass (Pillow's "box" optimisation; same result, less work).
        int firstRow = rows.Start[0];
        int lastRow = rows.Start[outHeight - 1] + rows.Count[outHeight - 1];

        byte[] current = source;
        int rowShift = 0;
        if (horizontal)
        {
            var columns = Coefficients.Compute(inWidth, outWidth, filter);
            current = HorizontalPass(source, inWidth, channels, firstRow, lastRow - firstRow, columns, outWidth);
            rowShift = firstRow;
        }
        return vertical ? VerticalPass(current, outWidth, channels, rows, rowShift, outHeight) : current;
    }

    static byte[] HorizontalPass(byte[] src, int inWidth, int channels, int firstRow, int rowCount, Coefficients k, int outWidth)
    {
        var dst = new byte[(long)outWidth * rowCount * channels];
        Span<int> sums = stackalloc int[channels];
        for (int y = 0; y < rowCount; y++)
        {
            long srcRow = (long)(y + firstRow) * inWidth * channels;
            long dstRow = (long)y * outWidth * channels;
            for (int x = 0; x < outWidth; x++)
            {
                sums.Fill(1 << (PrecisionBits - 1));
                int start = k.Start[x], count = k.Count[x], w0 = x * k.Stride;
                for (int i = 0; i < count; i++)
                {
                    int w = k.Weights[w0 + i];
                    long p = srcRow + (long)(start + i) * channels;
                    for (int c = 0; c < channels; c++) sums[c] += src[p + c] * w;
                }
                long o = dstRow + (long)x * channels;
                for (int c = 0; c < channels; c++) dst[o + c] = Clip8(sums[c]);
            }
        }
        return dst;
    }

    static byte[] VerticalPass(byte[] src, int width, int channels, Coefficients k, int rowShift, int outHeight)
    {
        int rowLength = width * channels;
        var dst = new byte[(long)rowLength * outHeight];
        var sums = new int[rowLength];
        for (int y = 0; y < outHeight; y++)
        {
            Array.Fill(sums, 1 << (PrecisionBits - 1));
            int start = k.Start[y] - rowShift, count = k.Count[y], w0 = y * k.Stride;
            // Row-at-a-time accumulation: integer sums are order-independent, so this equals Pillow's per-pixel loop.
            for (int i = 0; i < count; i++)
            {
                int w = k.Weights[w0 + i];
                long p = (long)(start + i) * rowLength;
                for (int j = 0; j < rowLength; j++) sums[j] += src[p + j] * w;
            }
            long o = (long)y * rowLength;
            for (int j = 0; j < rowLength; j++) dst[o + j] = Clip8(sums[j]);
        }
        return dst;
    }

    /// <summary>Drops the fraction bits (arithmetic shift, i.e. floor) and clamps to a byte.</summary>
    internal static byte Clip8(int value) => (byte)Math.Clamp(value >> PrecisionBits, 0, 255);

    /// <summary>Catmull-Rom cubic with a = -0.5, evaluated in the same operation order as Pillow so doubles round identically.</summary>
    internal static double Bicubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>Triangle filter (bilinear).</summary>
    internal static double Triangle(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /// <summary>Per-output-pixel source windows and their fixed-point weights for one axis.</summary>
    internal sealed class Coefficients
    {
        Coefficients(int[] start, int[] count, int[] weights, int stride)
        {
            Start = start;
            Count = count;
            Weights = weights;
            Stride = stride;
        }

        /// <summary>First source index read by each output index.</summary>
        public int[] Start { get; }

        /// <summary>Number of source indices read by each output index.</summary>
        public int[] Count { get; }

        /// <summary>Fixed-point weights, <see cref="Stride"/> per output index.</summary>
        public int[] Weights { get; }

        /// <summary>Maximum window length.</summary>
        public int Stride { get; }

        /// <summary>Computes the windows and weights for resampling <paramref name="inSize"/> samples to <paramref name="outSize"/>.</summary>
        public static Coefficients Compute(int inSize, int outSize, ResampleFilter filter)
        {
            Func<double, double> kernel;
            double baseSupport;
            switch (filter)
            {
                case ResampleFilter.Bicubic: kernel = Bicubic; baseSupport = 2.0; break;
                case ResampleFilter.Bilinear: kernel = Triangle; baseSupport = 1.0; break;
                default: throw new ArgumentOutOfRangeException(nameof(filter), filter, "Only bicubic (3) and bilinear (2) resampling are supported.");
            }

            // Pillow computes the scale from float box edges; for whole-image resizes (box 0..inSize) that is exactly inSize / outSize.
            double scale = (double)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = baseSupport * filterScale;
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            double inverseFilterScale = 1.0 / filterScale;

            var start = new int[outSize];
            var count = new int[outSize];
            var weights = new int[checked(outSize * stride)];
            var raw = new double[stride];
            for (int o = 0; o < outSize; o++)
            {
                double center = (o + 0.5) * scale;
                // (int) truncates toward zero like C's cast; the clamp below makes the difference from floor irrelevant.
                int min = Math.Max((int)(center - support + 0.5), 0);
                int max = Math.Min((int)(center + support + 0.5), inSize);
                int n = max - min;
                double total = 0.0;
                for (int i = 0; i < n; i++)
                {
                    double w = kernel(((i + min) - center + 0.5) * inverseFilterScale);
                    raw[i] = w;
                    total += w;
                }
                for (int i = 0; i < n; i++)
                {
                    double w = total != 0.0 ? raw[i] / total : raw[i];
                    weights[o * stride + i] = w < 0
                        ? (int)(-0.5 + w * (1 << PrecisionBits))
                        : (int)(0.5 + w * (1 << PrecisionBits));
                }
                start[o] = min;
                count[o] = n;
            }
            return new Coefficients(start, count, weights, stride);
        }
    }
}
