namespace LlavaModal.Encoders.Vision.Qwen2VL;

/// <summary>
/// Qwen2-VL's 2-D rotary angles: a patch at (row, column) gets <c>[row·f, column·f]</c> with the <c>head_dim / 4</c>
/// frequencies <c>f_i = 1 / 10000^(2i / (head_dim / 2))</c>, in float32 as the reference computes them; patches are
/// listed in the processor's order (frame, window row, window column, row in window, column in window).
/// </summary>
static class VisionRotaryEmbedding
{
    /// <summary>Angles [t·h·w, head_dim / 2], row-major, for a grid of <paramref name="frames"/> x <paramref name="rows"/> x <paramref name="cols"/> patches.</summary>
    public static float[] Angles(int frames, int rows, int cols, int merge, int headDim)
    {
        int dim = headDim / 2, count = dim / 2;
        var invFreq = new float[count];
        for (int i = 0; i < count; i++) invFreq[i] = (float)(1.0 / Math.Pow(10000, (double)(2 * i) / dim));
        var angles = new float[(long)frames * rows * cols * dim];
        long at = 0;
        for (int t = 0; t < frames; t++)
            for (int wy = 0; wy < rows / merge; wy++)
                for (int wx = 0; wx < cols / merge; wx++)
                    for (int iy = 0; iy < merge; iy++)
                        for (int ix = 0; ix < merge; ix++)
                        {
                            float row = wy * merge + iy, col = wx * merge + ix;
                            for (int i = 0; i < count; i++) angles[at + i] = row * invFreq[i];
                            for (int i = 0; i < count; i++) angles[at + count + i] = col * invFreq[i];
                            at += dim;
                        }
        return angles;
    }
}
