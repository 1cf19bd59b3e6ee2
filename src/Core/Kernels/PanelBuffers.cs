namespace LlavaModal.Core.Kernels;

/// <summary>
/// One thread's panel and decode buffers for the prompt products (<see cref="Gemm"/>'s f32 panels, <see cref="Int4Gemm"/>'s
/// byte panels and scales), 64-byte aligned, as large as the widest matrix it has served (they scale with the matrix's
/// width, never with the number of tokens).
/// </summary>
sealed unsafe class PanelBuffers
{
    [ThreadStatic] static PanelBuffers? current;
    float[] storage = [];
    float* start;

    public float* Panel { get; private set; }
    /// <summary>Room for the packer: <c>width</c> rows of values and of block scales.</summary>
    public float* Scratch { get; private set; }

    public static PanelBuffers ForThread(int columns, int width, int scalesPerRow)
    {
        var buffers = current ??= new PanelBuffers();
        long panel = Align((long)columns * width), scratch = panel + Align((long)width * Math.Max(1, scalesPerRow));
        long needed = panel + scratch + 16;
        if (buffers.storage.Length < needed)
        {
            buffers.storage = GC.AllocateUninitializedArray<float>(checked((int)needed), pinned: true);
            fixed (float* p = buffers.storage) buffers.start = (float*)(((nint)p + 63) & ~(nint)63);
        }
        buffers.Panel = buffers.start;
        buffers.Scratch = buffers.start + panel;
        return buffers;
    }

    static long Align(long floats) => (floats + 15) & ~15L;
}
