using System.Runtime.CompilerServices;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

namespace LlavaModal.Core.Quantization;

/// <summary>
/// A linear layer <c>x Wᵀ + b</c> whose weight is a <see cref="PackedMatrix"/> run by the C# kernels: a few tokens
/// (decode) go through <see cref="MatMul"/>'s row kernels, longer inputs (prefill) through <see cref="Gemm"/>'s tiled
/// product, or for int4 and int8 rows through their integer products (<see cref="Int4Gemm"/>, <see cref="Int8Gemm"/>;
/// AVX-512 or AVX2). Reads either a
/// full-precision <c>weight</c> (packed as it is read) or a packed checkpoint's <c>qweight</c> and <c>scales</c>
/// (<see cref="PackedTensors"/>), or, for a head tied to the embeddings, packs the loaded table (it reads no tensor of
/// its own). Activations keep the model's dtype; the products accumulate in f32.
/// </summary>
sealed class PackedLinear : nn.Module<Tensor, Tensor>, IReadsOwnWeights, IHoldsOwnWeights
{
    /// <summary>
    /// Up to this many rows go through the small-batch row kernels (<see cref="MatMul"/>); above, the tiled product
    /// (<see cref="Gemm"/>) or the integer products (<see cref="Int4Gemm"/>, <see cref="Int8Gemm"/>). Int8/int4 rows use integer dot
    /// products, which beat decoding to f32 panels up to a few dozen tokens, and int4's integer product from about 16
    /// (it repacks every panel per call: on AVX-512, 1.1B shapes tie at 12 and gain 8-16% at 16, 30-45% at 24, 70m
    /// shapes gain from 8; on AVX2 it leads from 8-16); int8's integer product ties the tiled one at 33-64 tokens and
    /// gains 10-25% from 128 on AVX-512 (on AVX2 1.3-2.6x on 1.1B shapes from 33 tokens), so int8 activations are rounded at every length, as int4's are;
    /// f32/bf16/f16 rows only for the tokens of a decode step.
    /// Measured with the <c>gemm</c> benchmark on 1.1B and 70m matrix shapes (2 threads, AMD EPYC; the README's
    /// Performance section).
    /// </summary>
    internal static int RowKernelLimit(WeightFormat format) =>
        format == WeightFormat.Int4 && Int4GemmServes ? 16 : format.IsQuantized() ? 32 : 8;

    /// <summary>Whether int4 prompts take <see cref="Int4Gemm"/> on this CPU: AVX-512 BW or AVX2 (int4 rows are always whole blocks).</summary>
    static bool Int4GemmServes { get; } = KernelIsas.Best != KernelIsa.Scalar;

#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly TorchSharp.Modules.Parameter? bias;
#pragma warning restore IDE1006
    readonly LinearShape shape;
    readonly WeightFormat format;
    readonly Func<Tensor>? tiedTable;
    PackedMatrix? matrix;

    // tiedTable: for a head tied to the embeddings, the table [out, in], read once the checkpoint has loaded.
    public PackedLinear(string name, long inFeatures, long outFeatures, bool hasBias, WeightFormat format, ScalarType dtype, Func<Tensor>? tiedTable = null) : base(name)
    {
        shape = new LinearShape(checked((int)inFeatures), checked((int)outFeatures));
        this.format = format;
        this.tiedTable = tiedTable;
        if (hasBias) bias = new TorchSharp.Modules.Parameter(zeros(outFeatures, dtype: dtype), requires_grad: false);
        RegisterComponents();
    }

    /// <summary>The format the weight is held in.</summary>
    public WeightFormat Format => format;

    /// <summary>The bias, or null.</summary>
    internal TorchSharp.Modules.Parameter? Bias => bias;

    /// <summary>out x in, or 0 for a head tied to the embeddings (its values are the table's, counted there).</summary>
    public long WeightCount => tiedTable is null ? (long)shape.Out * shape.In : 0;

    /// <summary>The packed weight (after loading).</summary>
    public PackedMatrix Weight => matrix ?? throw new InvalidOperationException($"{GetName()}: the packed weight has not been loaded.");

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long rows = x.numel() / shape.In;
        long[] outShape = [.. x.shape[..^1], shape.Out];
        // f32 contiguous activations (a decode step's) are read where they are; the output is made in its final shape.
        var input = x.dtype == ScalarType.Float32 && x.is_contiguous() ? x : x.to(ScalarType.Float32).contiguous();
        var y = empty(outShape, ScalarType.Float32);
        unsafe
        {
            fixed (byte* px = input.bytes)
            fixed (byte* py = y.bytes)
                Multiply((float*)px, checked((int)rows), (float*)py);
        }
        return (y.dtype == x.dtype ? y : y.to(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>y = x Wᵀ + b</c> on f32 rows in place (<paramref name="x"/> [rows, in], <paramref name="y"/> [rows, out]): the row
    /// kernels up to <see cref="RowKernelLimit"/> rows, an integer product (int4, int8) or the tiled product above.
    /// <see cref="forward"/>'s arithmetic, for callers that hold raw buffers (a decode step run in C#).
    /// </summary>
    internal unsafe void Multiply(float* x, int rows, float* y)
    {
        var w = Weight;
        if (rows <= RowKernelLimit(format)) MatMul.Multiply(w, x, rows, y, KernelIsas.Best, KernelPool.Shared);
        else if (Int4Gemm.Serves(w, KernelIsas.Best)) Int4Gemm.Multiply(w, x, rows, y, KernelIsas.Best, KernelPool.Shared);
        else if (Int8Gemm.Serves(w, KernelIsas.Best)) Int8Gemm.Multiply(w, x, rows, y, KernelIsas.Best, KernelPool.Shared);
        else Gemm.Multiply(w, x, rows, y, KernelIsas.Best, KernelPool.Shared);
        AddBias(y, rows);
    }

    /// <summary>Adds the bias (if any) to <paramref name="rows"/> f32 outputs of this layer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal unsafe void AddBias(float* y, int rows)
    {
        if (bias is null) return;
        using var widened = bias.dtype == ScalarType.Float32 ? null : bias.to(ScalarType.Float32);
        var b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((widened ?? bias).bytes);
        for (int r = 0; r < rows; r++)
        {
            var row = new Span<float>(y + (long)r * shape.Out, shape.Out);
            System.Numerics.Tensors.TensorPrimitives.Add(row, b, row);
        }
    }

    public (IReadOnlyList<string> Reads, IReadOnlyList<string> Missing, IReadOnlyList<string> Wrong) Inspect(IWeightSource checkpoint, Func<string, string> key)
    {
        if (tiedTable is not null) return ([], [], []);
        var packedName = key(PackedTensors.Values);
        if (checkpoint.Contains(packedName))
        {
            var scalesName = key(PackedTensors.Scales);
            var wrong = new List<string>();
            var stored = PackedTensors.FormatOf(checkpoint.StoredType(packedName));
            if (stored != format)
                wrong.Add($"{packedName} (checkpoint stores {stored?.Name() ?? checkpoint.StoredType(packedName)?.ToString() ?? "an unknown type"}, the model was asked for {format.Name()})");
            else if (!checkpoint.Shape(packedName).SequenceEqual(PackedTensors.ValuesShape(format, shape)))
                wrong.Add($"{packedName} (checkpoint [{string.Join(", ", checkpoint.Shape(packedName))}], model [{string.Join(", ", PackedTensors.ValuesShape(format, shape))}])");
            if (!checkpoint.Contains(scalesName)) return ([packedName], [scalesName], wrong);
            if (!checkpoint.Shape(scalesName).SequenceEqual(PackedTensors.ScalesShape(shape)) || checkpoint.StoredType(scalesName) is not (null or ScalarType.Float16))
                wrong.Add($"{scalesName} (checkpoint {checkpoint.StoredType(scalesName)} [{string.Join(", ", checkpoint.Shape(scalesName))}], model Float16 [{string.Join(", ", PackedTensors.ScalesShape(shape))}])");
            return ([packedName, scalesName], [], wrong);
        }
        var weightName = key("weight");
        if (!checkpoint.Contains(weightName)) return ([], [weightName], []);
        long[] expected = [shape.Out, shape.In];
        if (!checkpoint.Shape(weightName).SequenceEqual(expected))
            return ([weightName], [], [$"{weightName} (checkpoint [{string.Join(", ", checkpoint.Shape(weightName))}], model [{shape.Out}, {shape.In}])"]);
        if (checkpoint.StoredType(weightName) is { } type && type is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            return ([weightName], [], [$"{weightName} (checkpoint stores {type}, packing needs floating-point weights)"]);
        return ([weightName], [], []);
    }

    public void Read(IWeightSource checkpoint, Func<string, string> key)
    {
        PackedMatrix packed;
        var packedName = key(PackedTensors.Values);
        if (tiedTable is not null)
        {
            // Parameters load before packed layers read theirs, so the table holds the checkpoint's values by now.
            using var scope = NewDisposeScope();
            var dense = tiedTable().detach().to(ScalarType.Float32).contiguous();
            packed = PackedMatrix.Pack(format, shape.Out, shape.In, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(dense.bytes));
        }
        else if (checkpoint.Contains(packedName))
        {
            using var values = checkpoint.Read(packedName);
            using var scales = checkpoint.Read(key(PackedTensors.Scales), ScalarType.Float16);
            packed = PackedMatrix.FromStored(format, shape.Out, shape.In, values.bytes,
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(scales.bytes));
        }
        else
        {
            // One layer in f32 at a time: packing never holds a second copy of the model.
            // contiguous() returns a new handle even when nothing is copied: disposed here, or every layer's f32 copy stays alive until the caller's scope ends (twice the model at the load's peak).
            using var weight = checkpoint.Read(key("weight"), ScalarType.Float32);
            using var dense = weight.contiguous();
            packed = PackedMatrix.Pack(format, shape.Out, shape.In, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(dense.bytes));
        }
        matrix?.Dispose();
        matrix = packed;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            matrix?.Dispose();
            matrix = null;
        }
        base.Dispose(disposing);
    }
}

/// <summary>Input and output widths of a linear layer.</summary>
readonly record struct LinearShape(int In, int Out);
