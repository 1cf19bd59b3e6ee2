using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// Activations rounded to int8 per block of 32, for the integer products of the int8 and int4 rows: per block
/// <c>d = max|x| / 127</c> (f32) and <c>q = round(x / d)</c> (multiplied by <c>1 / d</c>, ties to even), as llama.cpp
/// pairs Q8_0/Q4_0 weights with Q8 activations; plus <c>8 · d · Σq</c> per block, which int4 rows subtract (their
/// nibbles are stored offset by 8). A block holding a NaN or an infinity gets a NaN scale, so the product is NaN, as a
/// float product would be, instead of silently finite.
/// Two more views of the same values serve the faster kernels: the values of every four blocks regrouped by half
/// block (<see cref="QuantizedRow.Halves"/>, for int4 rows, whose bytes hold element i and i + 16 of a block), and
/// <c>-128 · Σq</c> per block (<see cref="QuantizedRow.Biases"/>, for int8 rows with the top bit of their weights
/// flipped).
/// </summary>
/// <remarks>One buffer per calling thread, grown to the largest input seen, so a decode step allocates nothing; past
/// <see cref="KeptValues"/> it is given back at the next smaller input (models send at most
/// <c>PackedLinear.RowKernelLimit</c> tokens here; a caller of <see cref="MatMul"/> may send any number).</remarks>
sealed unsafe class QuantizedActivations
{
    const int Block = WeightFormats.BlockSize;

    [ThreadStatic] static QuantizedActivations? current;

    /// <summary>Values a thread keeps between calls (4 MiB: 32 tokens of a 131,072-wide row).</summary>
    internal const long KeptValues = 1 << 22;

    // Pinned arrays (the pinned object heap): their addresses are kept while they live.
    sbyte[] values = [];
    sbyte[] halves = [];
    short[] wide = [];
    int[] biases = [];
    float[] scales = [];
    float[] offsets = [];
    sbyte* valuesStart;
    sbyte* halvesStart;
    short* wideStart;
    int* biasesStart;
    float* scalesStart;
    float* offsetsStart;

    QuantizedActivations() { }

    /// <summary>Blocks of one token's row.</summary>
    public int Blocks { get; private set; }

    /// <summary>Columns of one token's row.</summary>
    public int Columns { get; private set; }

    /// <summary>Rows rounded by the last <see cref="Of(float*, int, int)"/>.</summary>
    public int Tokens { get; private set; }

    /// <summary>Token <paramref name="t"/>'s values, block scales <c>d</c> and <c>8 · d · Σq</c> per block (the arrays are pinned).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public QuantizedRow Row(int t) =>
        new(valuesStart + (long)t * Columns, scalesStart + (long)t * Blocks, offsetsStart + (long)t * Blocks, halvesStart + (long)t * Columns, biasesStart + (long)t * Blocks, wideStart == null ? null : wideStart + (long)t * Columns);

    /// <summary>Rounds <paramref name="tokens"/> rows of <paramref name="columns"/> floats (a multiple of 32) into this thread's buffer.</summary>
    public static QuantizedActivations Of(float* x, int tokens, int columns)
    {
        var q = current ??= new QuantizedActivations();
        q.Fill(x, tokens, columns);
        return q;
    }

    /// <summary><see cref="Of(float*, int, int)"/> from a span (the tests read the result through the views below).</summary>
    internal static QuantizedActivations Of(ReadOnlySpan<float> x, int tokens, int columns)
    {
        fixed (float* p = x) return Of(p, tokens, columns);
    }

    internal ReadOnlySpan<sbyte> ValuesOf(int t) => new(Row(t).Values, Columns);
    internal ReadOnlySpan<sbyte> HalvesOf(int t) => new(Row(t).Halves, Columns);
    internal ReadOnlySpan<int> BiasesOf(int t) => new(Row(t).Biases, Blocks);

    /// <summary>Bytes of values this thread's buffer holds now.</summary>
    internal static long HeldValues => current is null ? 0 : current.values.LongLength - Slack;

    /// <summary>Elements allocated past what an array must hold, so its start can be moved to a 64-byte boundary: the
    /// pinned heap aligns arrays to 8 bytes, and a 512-bit load of activations straddling two cache lines costs two.</summary>
    const int Slack = 64;

    void Fill(float* x, int tokens, int columns)
    {
        Columns = columns;
        Blocks = columns / Block;
        Tokens = tokens;
        long count = (long)tokens * columns;
        bool shrink = values.LongLength - Slack > KeptValues && count <= KeptValues;
        if (values.LongLength - Slack < count || shrink)
        {
            values = GC.AllocateUninitializedArray<sbyte>(checked((int)count + Slack), pinned: true);
            halves = GC.AllocateUninitializedArray<sbyte>(checked((int)count + Slack), pinned: true);
            wide = [];
        }
        wideStart = null;
        // 16 floats of padding: the kernels read scales and offsets 16 blocks at a time.
        if (scales.Length - Slack < tokens * Blocks + 16 || shrink)
        {
            scales = GC.AllocateArray<float>(tokens * Blocks + 16 + Slack, pinned: true);
            offsets = GC.AllocateArray<float>(tokens * Blocks + 16 + Slack, pinned: true);
            biases = GC.AllocateArray<int>(tokens * Blocks + 16 + Slack, pinned: true);
        }
        valuesStart = Aligned(values);
        scalesStart = Aligned(scales);
        offsetsStart = Aligned(offsets);
        halvesStart = Aligned(halves);
        biasesStart = Aligned(biases);
        for (long b = 0; b < (long)tokens * Blocks; b++)
            Round(x + b * Block, valuesStart + b * Block, out scalesStart[b], out offsetsStart[b], out biasesStart[b]);
        for (long t = 0; t < tokens; t++)
            Regroup(valuesStart + t * columns, halvesStart + t * columns, Blocks);
    }

    /// <summary>
    /// The values widened to int16 (<see cref="QuantizedRow.Wide"/>), for <see cref="Int8Gemm"/>'s <c>vpmaddwd</c>; asked
    /// for only by it, so the one-token kernels never pay for the copy. Kept with the values and given back with them.
    /// </summary>
    public void Widen()
    {
        long count = (long)Tokens * Columns;
        if (wide.LongLength - Slack < count) wide = GC.AllocateUninitializedArray<short>(checked((int)count + Slack), pinned: true);
        wideStart = Aligned(wide);
        // By hand, 32 at a time (whole blocks): TensorPrimitives.ConvertTruncating made a 1.1B prompt 3% slower.
        for (long c = 0; c < count; c += 32)
        {
            var (low, high) = Vector256.Widen(Vector256.Load(valuesStart + c));
            low.Store(wideStart + c);
            high.Store(wideStart + c + 16);
        }
    }

    /// <summary>The first 64-byte boundary in a pinned array (its <see cref="Slack"/> elements cover the move).</summary>
    static T* Aligned<T>(T[] array) where T : unmanaged =>
        (T*)(((nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array)) + 63) & ~(nint)63);

    /// <summary>
    /// Every four blocks' values as their first halves (elements 0-15 of each block, 64 bytes) then their second halves:
    /// one 512-bit load of int4 weights, split into low and high nibbles, then meets its activations in two loads. The
    /// blocks past the last whole four stay in block order.
    /// </summary>
    static void Regroup(sbyte* q, sbyte* target, int blocks)
    {
        int grouped = blocks / 4 * 4;
        for (int g = 0; g < grouped; g += 4)
        {
            sbyte* from = q + g * Block, to = target + g * Block;
            for (int k = 0; k < 4; k++)
            {
                Vector128.Load(from + k * Block).Store(to + k * 16);
                Vector128.Load(from + k * Block + 16).Store(to + 64 + k * 16);
            }
        }
        new ReadOnlySpan<sbyte>(q + grouped * Block, (blocks - grouped) * Block).CopyTo(new Span<sbyte>(target + grouped * Block, (blocks - grouped) * Block));
    }

    /// <summary>One block: its scale, its rounded values and its int4 offset term.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Round(float* x, sbyte* q, out float scale, out float offset, out int bias)
    {
        var v0 = Vector256.Load(x);
        var v1 = Vector256.Load(x + 8);
        var v2 = Vector256.Load(x + 16);
        var v3 = Vector256.Load(x + 24);
        var exponent = Vector256.Create(0x7F800000u);
        var special = Vector256.Equals(v0.AsUInt32() & exponent, exponent) | Vector256.Equals(v1.AsUInt32() & exponent, exponent)
            | Vector256.Equals(v2.AsUInt32() & exponent, exponent) | Vector256.Equals(v3.AsUInt32() & exponent, exponent);
        if (special != Vector256<uint>.Zero)
        {
            scale = float.NaN;
            offset = float.NaN;
            new Span<sbyte>(q, Block).Clear();
            bias = 0;
            return;
        }
        var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        float max = MathF.Max(MathF.Max(MathF.Max(m[0], m[1]), MathF.Max(m[2], m[3])), MathF.Max(MathF.Max(m[4], m[5]), MathF.Max(m[6], m[7])));
        scale = max / 127f;
        var inverse = Vector256.Create(scale == 0 ? 0 : 1 / scale);
        var i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * inverse));
        var i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * inverse));
        var i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * inverse));
        var i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * inverse));
        var limit = Vector256.Create(127);
        i0 = Vector256.Min(Vector256.Max(i0, -limit), limit);
        i1 = Vector256.Min(Vector256.Max(i1, -limit), limit);
        i2 = Vector256.Min(Vector256.Max(i2, -limit), limit);
        i3 = Vector256.Min(Vector256.Max(i3, -limit), limit);
        Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).Store(q);
        int sum = Vector256.Sum(i0 + i1 + i2 + i3);
        offset = 8 * scale * sum;
        bias = -128 * sum;
    }
}
