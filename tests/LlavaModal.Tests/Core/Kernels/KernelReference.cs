using System.Runtime.InteropServices;
using LlavaModal.Core.Kernels;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Kernels;

/// <summary>What a packed matrix holds, recomputed with torch from its stored bytes (independently of the kernels' decoders).</summary>
static class KernelReference
{
    public static Tensor Weights(PackedMatrix w)
    {
        long rows = w.Rows, columns = w.Columns;
        var bytes = w.Data.ToArray();
        switch (w.Format)
        {
            case WeightFormat.F32: return tensor(MemoryMarshal.Cast<byte, float>(bytes).ToArray(), [rows, columns]);
            case WeightFormat.BF16 or WeightFormat.F16: return FromBytes(bytes, w.Format == WeightFormat.BF16 ? ScalarType.BFloat16 : ScalarType.Float16, rows, columns);
        }
        using var scope = NewDisposeScope();
        long blocks = columns / WeightFormats.BlockSize;
        var scales = FromBytes(MemoryMarshal.AsBytes(w.Scales).ToArray(), ScalarType.Float16, rows, blocks).unsqueeze(-1);
        Tensor values;
        if (w.Format == WeightFormat.Int8)
        {
            values = tensor(MemoryMarshal.Cast<byte, sbyte>(bytes).ToArray(), [rows, blocks, 32]).to(ScalarType.Float32);
        }
        else
        {
            var packed = tensor(bytes, [rows, blocks, 16]).to(ScalarType.Int32);
            values = cat([packed.bitwise_and(15), packed.bitwise_right_shift(4)], -1).to(ScalarType.Float32) - 8;
        }
        return (values * scales).reshape(rows, columns).MoveToOuterDisposeScope();
    }

    /// <summary>16-bit values from their bytes, widened to float32 by torch.</summary>
    static Tensor FromBytes(byte[] bytes, ScalarType type, long rows, long columns)
    {
        using var raw = empty([rows, columns], type);
        raw.bytes = bytes;
        return raw.to(ScalarType.Float32);
    }

    /// <summary>
    /// x [tokens, columns] times the stored weights, in float64; for int8/int4 weights x as the kernels round it: per
    /// block of 32, d = max|x| / 127 and q = round-to-even(x · (1 / d)) in float32, then q · d.
    /// </summary>
    public static Tensor Product(PackedMatrix w, Tensor x)
    {
        using var weights = Weights(w).to(ScalarType.Float64);
        using var x64 = w.Format.IsQuantized() ? RoundedActivations(x) : x.to(ScalarType.Float64);
        return x64.matmul(weights.t());
    }

    /// <summary>x [.., columns] rounded to int8 per block of 32 as the kernels do, back in float64.</summary>
    public static Tensor RoundedActivations(Tensor x)
    {
        var values = x.contiguous().data<float>().ToArray();
        var rounded = new double[values.Length];
        for (int start = 0; start < values.Length; start += WeightFormats.BlockSize)
        {
            var block = values.AsSpan(start, WeightFormats.BlockSize);
            float max = 0;
            foreach (var v in block) max = Math.Max(max, Math.Abs(v));
            float d = max / 127f;
            float inverse = d == 0 ? 0 : 1 / d;
            for (int i = 0; i < block.Length; i++)
                rounded[start + i] = Math.Clamp(MathF.Round(block[i] * inverse, MidpointRounding.ToEven), -127f, 127f) * (double)d;
        }
        return tensor(rounded, x.shape);
    }
}
