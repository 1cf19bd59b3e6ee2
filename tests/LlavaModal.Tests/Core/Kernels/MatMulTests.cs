using LlavaModal.Core.Kernels;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Core.Kernels;

public class MatMulTests
{
    static readonly WeightFormat[] Formats = Enum.GetValues<WeightFormat>();

    static (PackedMatrix Packed, float[] Values) Random(WeightFormat format, int rows, int columns, int seed)
    {
        var values = randn([rows, columns], generator: new Generator((ulong)seed)).data<float>().ToArray();
        return (PackedMatrix.Pack(format, rows, columns, values), values);
    }

    public static TheoryData<KernelIsa, WeightFormat> Paths()
    {
        var data = new TheoryData<KernelIsa, WeightFormat>();
        foreach (var isa in Enum.GetValues<KernelIsa>())
            foreach (var format in Formats) data.Add(isa, format);
        return data;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Every_path_matches_torch_on_odd_shapes_and_token_counts(KernelIsa isa, WeightFormat format)
    {
        if (!KernelIsas.IsSupported(isa))
        {
            using var tiny = Random(format, 1, 32, 0).Packed;
            Assert.Throws<ArgumentException>(() => MatMul.Multiply(tiny, new float[32], 1, new float[1], isa));
            return;
        }
        using var pool = new KernelPool(3);
        // Float formats take any width (a scalar tail past the last block of 32); quantized ones whole blocks.
        // Quantized widths cover odd block counts, whole and ragged groups of 4, 8 and 16 blocks (the kernels' steps).
        // Float rows of 2100 (65 blocks and a tail) are long enough to be read four at a time (MatMul.FourRowBytes) in f32 and bf16.
        int[] widths = format.IsQuantized() ? [32, 96, 320, 384, 544, 1056] : [1, 31, 100, 320, 2100];
        foreach (int columns in widths)
        {
            foreach (int rows in new[] { 1, 37, 130 })
            {
                using var scope = NewDisposeScope();
                var (packed, _) = Random(format, rows, columns, rows * 1000 + columns);
                using (packed)
                {
                    // 67 tokens: two chunks of 64 and a ragged third (each row meets every chunk).
                    foreach (int tokens in new[] { 1, 2, 3, 4, 5, 9, 67 })
                    {
                        var x = randn([tokens, columns], generator: new Generator((ulong)tokens));
                        var y = new float[tokens * rows];
                        MatMul.Multiply(packed, x.data<float>().ToArray(), tokens, y, isa, pool);
                        Parity.AssertClose(tensor(y, [tokens, rows]), KernelReference.Product(packed, x), 2e-6,
                            $"{isa} {format.Name()} [{rows}, {columns}] x {tokens} tokens");
                    }
                }
            }
        }
    }

    public static TheoryData<KernelIsa, WeightFormat, bool> IntegerPaths()
    {
        var data = new TheoryData<KernelIsa, WeightFormat, bool>();
        foreach (var isa in new[] { KernelIsa.Avx2, KernelIsa.Avx512 })
            foreach (var format in new[] { WeightFormat.Int8, WeightFormat.Int4 })
            {
                data.Add(isa, format, true);
                data.Add(isa, format, false);
            }
        return data;
    }

    [Theory]
    [MemberData(nameof(IntegerPaths))]
    public void The_integer_products_match_the_reference_with_and_without_vnni(KernelIsa isa, WeightFormat format, bool vnni)
    {
        if (!KernelIsas.IsSupported(isa) || (vnni && !System.Runtime.Intrinsics.X86.AvxVnni.IsSupported)) return;
        using var pool = new KernelPool(2);
        bool saved = MatMul.UseVnni;
        try
        {
            MatMul.UseVnni = vnni;
            // Block counts 1, 7, 12, 16, 17, 64: groups of 4, 8 and 16 blocks whole and ragged; 37 rows split among threads.
            foreach (int columns in new[] { 32, 224, 384, 512, 544, 2048 })
            {
                using var scope = NewDisposeScope();
                var (packed, _) = Random(format, 37, columns, columns);
                using (packed)
                {
                    foreach (int tokens in new[] { 1, 4, 6 })
                    {
                        var x = randn([tokens, columns], generator: new Generator((ulong)(tokens + columns)));
                        var y = new float[tokens * 37];
                        MatMul.Multiply(packed, x.data<float>().ToArray(), tokens, y, isa, pool);
                        Parity.AssertClose(tensor(y, [tokens, 37]), KernelReference.Product(packed, x), 2e-6,
                            $"{isa} {format.Name()} vnni {vnni} [37, {columns}] x {tokens} tokens");
                    }
                }
            }
        }
        finally
        {
            MatMul.UseVnni = saved;
        }
    }

    [Fact]
    public void A_nan_or_infinity_in_the_activations_gives_nan_rows_not_finite_garbage()
    {
        foreach (var format in new[] { WeightFormat.Int8, WeightFormat.Int4 })
            foreach (var isa in KernelIsas.Supported)
            {
                var (packed, _) = Random(format, 3, 64, 13);
                using (packed)
                {
                    var x = Enumerable.Repeat(0.5f, 128).ToArray();
                    x[40] = float.NaN;
                    x[64 + 3] = float.PositiveInfinity;
                    var y = new float[6];
                    MatMul.Multiply(packed, x, 2, y, isa);
                    Assert.All(y, v => Assert.True(float.IsNaN(v), $"{isa} {format.Name()}: {v}"));
                }
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Dequantizing_gives_the_stored_values_exactly(KernelIsa isa, WeightFormat format)
    {
        if (!KernelIsas.IsSupported(isa)) return;
        using var scope = NewDisposeScope();
        int columns = format.IsQuantized() ? 96 : 100;
        var (packed, _) = Random(format, 21, columns, 5);
        using (packed)
        {
            var floats = new float[21 * columns];
            MatMul.Dequantize(packed, floats, isa);
            Assert.Equal(KernelReference.Weights(packed).data<float>().ToArray(), floats);
        }
    }

    [Fact]
    public void F16_subnormals_infinities_nans_and_signed_zeros_widen_as_torch_widens_them()
    {
        float[] special = [1e-6f, -3e-7f, 6e-8f, 70000f, float.NegativeInfinity, float.NaN, 65504f, 0f, -0f, 6.1e-5f, -1f, 0.333f];
        var values = Enumerable.Range(0, 64).Select(i => special[i % special.Length] * (i % 5 == 4 ? -1 : 1)).ToArray();
        using var packed = PackedMatrix.Pack(WeightFormat.F16, 2, 32, values);
        var expected = KernelReference.Weights(packed).data<float>().ToArray();
        foreach (var isa in KernelIsas.Supported)
        {
            var floats = new float[64];
            MatMul.Dequantize(packed, floats, isa);
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), floats.Select(BitConverter.SingleToInt32Bits));
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32, 0.0)]
    [InlineData(WeightFormat.BF16, 1.0 / 256)]
    [InlineData(WeightFormat.F16, 1.0 / 2048)]
    public void Float_formats_round_each_value_within_half_a_unit(WeightFormat format, double relative)
    {
        var (packed, values) = Random(format, 8, 64, 9);
        using (packed)
        {
            var stored = KernelReference.Weights(packed).data<float>().ToArray();
            for (int i = 0; i < values.Length; i++)
                Assert.True(Math.Abs(stored[i] - values[i]) <= relative * Math.Abs(values[i]), $"{format.Name()} value {i}: {values[i]} stored as {stored[i]}");
        }
    }

    [Theory]
    [InlineData(WeightFormat.Int8, 0.5, 0.01)]
    [InlineData(WeightFormat.Int4, 1.0, 0.15)]
    public void Quantized_values_stay_within_their_block_step(WeightFormat format, double steps, double relativeNorm)
    {
        var (packed, values) = Random(format, 16, 256, 11);
        using (packed)
        {
            var stored = KernelReference.Weights(packed).data<float>().ToArray();
            var scales = packed.Scales.ToArray();
            double error = 0, norm = 0;
            for (int i = 0; i < values.Length; i++)
            {
                double step = Math.Abs((float)scales[i / WeightFormats.BlockSize]);
                // The f16 scale itself is rounded, which can add a fraction of a step at the block's extremes.
                Assert.True(Math.Abs(stored[i] - values[i]) <= steps * step * 1.01 + 1e-6, $"{format.Name()} value {i}: {values[i]} stored as {stored[i]}, step {step}");
                error += Math.Pow(stored[i] - values[i], 2);
                norm += Math.Pow(values[i], 2);
            }
            Assert.InRange(Math.Sqrt(error / norm), 1e-6, relativeNorm);
        }
    }

    [Fact]
    public void Quantized_formats_need_whole_blocks()
    {
        var error = Assert.Throws<ArgumentException>(() => PackedMatrix.Pack(WeightFormat.Int4, 2, 40, new float[80]));
        Assert.Contains("multiple of 32", error.Message);
    }

    [Fact]
    public void All_zero_blocks_stay_zero()
    {
        foreach (var format in new[] { WeightFormat.Int8, WeightFormat.Int4 })
        {
            using var packed = PackedMatrix.Pack(format, 2, 64, new float[128]);
            var y = new float[2];
            MatMul.Multiply(packed, Enumerable.Repeat(1f, 64).ToArray(), 1, y);
            Assert.Equal([0f, 0f], y);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Thread_counts_give_the_same_sums(int threads)
    {
        // 512 x 1024 f32 is 2 MiB: large enough to be split among the threads.
        var (packed, _) = Random(WeightFormat.F32, 512, 1024, 3);
        using (packed)
        using (var pool = new KernelPool(threads))
        {
            var x = randn([2, 1024], generator: new Generator(4)).data<float>().ToArray();
            var single = new float[1024];
            var pooled = new float[1024];
            using (var one = new KernelPool(1)) MatMul.Multiply(packed, x, 2, single, KernelIsa.Scalar, one);
            for (int repeat = 0; repeat < 20; repeat++)
            {
                MatMul.Multiply(packed, x, 2, pooled, KernelIsa.Scalar, pool);
                Assert.Equal(single, pooled);
            }
        }
    }

    [Theory]
    [InlineData(KernelIsa.Avx2)]
    [InlineData(KernelIsa.Avx512)]
    public void One_token_s_f32_sums_are_each_row_s_alone_however_rows_are_grouped_and_split(KernelIsa isa)
    {
        if (!KernelIsas.IsSupported(isa)) return;
        // 83 rows x 1030 columns (an odd block count and a tail) f32: 334 KiB, split among threads in chunks of four rows.
        const int rows = 83, columns = 1030;
        Assert.True(WeightFormat.F32.RowBytes(columns) >= MatMul.FourRowBytes, "rows long enough to be grouped");
        AssertEachRowAsAlone(WeightFormat.F32, rows, columns, isa, 9);
    }

    /// <summary>One token against a random [rows, columns] matrix on 1, 2 and 3 threads gives each row's result bit for bit as that row alone.</summary>
    static void AssertEachRowAsAlone(WeightFormat format, int rows, int columns, KernelIsa isa, int seed)
    {
        var (packed, values) = Random(format, rows, columns, seed);
        var x = randn([1, columns], generator: new Generator((ulong)seed + 1)).data<float>().ToArray();
        var alone = new float[rows];
        using (var one = new KernelPool(1))
            for (int r = 0; r < rows; r++)
            {
                using var row = PackedMatrix.Pack(format, 1, columns, values.AsSpan(r * columns, columns));
                MatMul.Multiply(row, x, 1, alone.AsSpan(r, 1), isa, one);
            }
        using (packed)
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var pool = new KernelPool(threads);
                var y = new float[rows];
                MatMul.Multiply(packed, x, 1, y, isa, pool);
                Assert.Equal(alone, y);
            }
    }

    public static TheoryData<KernelIsa, WeightFormat> IntegerIsas()
    {
        var data = new TheoryData<KernelIsa, WeightFormat>();
        foreach (var isa in new[] { KernelIsa.Scalar, KernelIsa.Avx2, KernelIsa.Avx512 })
            foreach (var format in new[] { WeightFormat.Int8, WeightFormat.Int4 }) data.Add(isa, format);
        return data;
    }

    [Theory]
    [MemberData(nameof(IntegerIsas))]
    public void One_token_s_integer_sums_are_each_row_s_alone_however_rows_are_grouped_and_split(KernelIsa isa, WeightFormat format)
    {
        if (!KernelIsas.IsSupported(isa)) return;
        // 1003 rows (groups of four and a remainder; over 256 KiB, so split among threads, at other places for each count)
        // at 16, 43 and 64 blocks a row: the four-row kernels' whole steps of 16 and the widths they leave to one row at a time.
        foreach (int columns in new[] { 512, 1376, 2048 }) AssertEachRowAsAlone(format, 1003, columns, isa, columns + 1);
    }

    sealed class Failing : IRangeWork
    {
        public void Run(int start, int end)
        {
            if (start > 0) throw new InvalidOperationException("chunk failed");
        }
    }

    [Fact]
    public void A_failing_chunk_is_reported_to_the_caller_and_the_pool_keeps_working()
    {
        using var pool = new KernelPool(2);
        var error = Assert.Throws<AggregateException>(() => pool.For(100, 10, new Failing()));
        Assert.IsType<InvalidOperationException>(error.InnerException);
        var (packed, _) = Random(WeightFormat.Int8, 256, 1024, 1);
        using (packed)
        {
            var y = new float[256];
            MatMul.Multiply(packed, new float[1024], 1, y, pool: pool);
            Assert.All(y, v => Assert.Equal(0f, v));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Several_matrices_in_one_pass_give_each_product_as_alone(KernelIsa isa, WeightFormat format)
    {
        if (!KernelIsas.IsSupported(isa)) return;
        using var scope = NewDisposeScope();
        using var pool = new KernelPool(3);
        // q/k/v-like shapes of one width; the pool's chunks cross from one matrix into the next.
        var matrices = new[] { Random(format, 37, 96, 1).Packed, Random(format, 5, 96, 2).Packed, Random(format, 130, 96, 3).Packed };
        try
        {
            foreach (int tokens in new[] { 1, 3 })
            {
                var x = randn([tokens, 96], generator: new Generator(9)).data<float>().ToArray();
                var fused = new float[tokens * matrices.Sum(m => m.Rows)];
                MatMul.MultiplyMany(matrices, x, tokens, fused, isa, pool);
                int offset = 0;
                foreach (var m in matrices)
                {
                    var alone = new float[tokens * m.Rows];
                    MatMul.Multiply(m, x, tokens, alone, isa, pool);
                    Assert.Equal(alone, fused.AsSpan(offset, alone.Length).ToArray());
                    offset += alone.Length;
                }
            }
            using var narrow = Random(format, 4, 64, 4).Packed;
            Assert.Throws<ArgumentException>(() => MatMul.MultiplyMany([matrices[0], narrow], new float[96], 1, new float[41], isa, pool));
        }
        finally
        {
            foreach (var m in matrices) m.Dispose();
        }
    }

    [Fact]
    public void A_long_input_s_rounded_activations_are_not_kept_after_it()
    {
        using var scope = NewDisposeScope();
        using var pool = new KernelPool(1);
        var (packed, _) = Random(WeightFormat.Int8, 3, 4096, 5);
        using (packed)
        {
            int tokens = (int)(QuantizedActivations.KeptValues / 4096) + 10;
            var x = randn([tokens, 4096], generator: new Generator(6));
            var y = new float[tokens * 3];
            MatMul.Multiply(packed, x.data<float>().ToArray(), tokens, y, pool: pool);
            Assert.True(QuantizedActivations.HeldValues >= (long)tokens * 4096);
            // The next, smaller input gives the long one's buffer back and still computes right.
            var one = randn([1, 4096], generator: new Generator(7));
            var single = new float[3];
            MatMul.Multiply(packed, one.data<float>().ToArray(), 1, single, pool: pool);
            Assert.True(QuantizedActivations.HeldValues <= QuantizedActivations.KeptValues, $"{QuantizedActivations.HeldValues} bytes kept");
            Parity.AssertClose(tensor(single, [1, 3]), KernelReference.Product(packed, one), 2e-6, "after shrinking");
        }
    }
}
