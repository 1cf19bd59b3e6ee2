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

    /// <summary>x [tokens, columns] times the stored weights, in float64.</summary>
    public static Tensor Product(PackedMatrix w, Tensor x)
    {
        using var weights = Weights(w).to(ScalarType.Float64);
        using var x64 = x.to(ScalarType.Float64);
        return x64.matmul(weights.t());
    }
}
