using System.Runtime.InteropServices;

namespace LlavaModal.Core.Kernels;

/// <summary>
/// A weight matrix [rows, columns] in one <see cref="WeightFormat"/>, in 64-byte aligned native memory the kernels read
/// directly: the values row-major (<see cref="Data"/>) and, for the quantized formats, one f16 scale per block of
/// <see cref="WeightFormats.BlockSize"/> values of a row (<see cref="Scales"/>, [rows, columns / 32]).
/// </summary>
/// <remarks>Values and scales are kept apart, not interleaved as in llama.cpp, so every vector load is aligned.</remarks>
public sealed unsafe class PackedMatrix : IDisposable
{
    byte* data;
    Half* scales;

    PackedMatrix(WeightFormat format, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (format.IsQuantized() && columns % WeightFormats.BlockSize != 0)
            throw new ArgumentException($"{format.Name()} needs a width that is a multiple of {WeightFormats.BlockSize}; this matrix has {columns} columns.", nameof(columns));
        Format = format;
        Rows = rows;
        Columns = columns;
        RowBytes = format.RowBytes(columns);
        data = (byte*)Native.HugePages.Allocate(DataBytes);
        // 64 bytes past the last scale: the integer kernels read the scales 16 at a time (what lies past a row is never used).
        if (format.IsQuantized()) scales = (Half*)Native.HugePages.Allocate(ScaleBytes);
    }

    nuint DataBytes => (nuint)(RowBytes * Rows);
    nuint ScaleBytes => (nuint)(ScalesPerRow * Rows * sizeof(Half) + 64);

    /// <summary>The storage format.</summary>
    public WeightFormat Format { get; }
    /// <summary>Output width.</summary>
    public int Rows { get; }
    /// <summary>Input width.</summary>
    public int Columns { get; }
    /// <summary>Bytes of one row of values.</summary>
    public long RowBytes { get; }
    /// <summary>Scales of one row (0 for the float formats).</summary>
    public int ScalesPerRow => Format.IsQuantized() ? Columns / WeightFormats.BlockSize : 0;
    /// <summary>Bytes of values and scales together.</summary>
    public long ByteCount => RowBytes * Rows + (long)ScalesPerRow * Rows * sizeof(Half);

    /// <summary>The values, row-major.</summary>
    public Span<byte> Data => new(Live(data), checked((int)(RowBytes * Rows)));
    /// <summary>The block scales, row-major (empty for the float formats).</summary>
    public Span<Half> Scales => scales is null ? [] : new(Live(scales), ScalesPerRow * Rows);

    internal byte* DataPointer => Live(data);
    internal Half* ScalesPointer => scales;

    /// <summary>Packs a row-major float matrix into <paramref name="format"/> (rounding to 16 bits, or quantizing block by block).</summary>
    public static PackedMatrix Pack(WeightFormat format, int rows, int columns, ReadOnlySpan<float> values)
    {
        if (values.Length != (long)rows * columns) throw new ArgumentException($"Expected {rows} x {columns} values, got {values.Length}.", nameof(values));
        var packed = new PackedMatrix(format, rows, columns);
        for (int r = 0; r < rows; r++) packed.PackRow(r, values.Slice(r * columns, columns));
        return packed;
    }

    /// <summary>An empty matrix whose rows are then written with <see cref="PackRow"/> (loading packs a checkpoint row block by row block).</summary>
    public static PackedMatrix Allocate(WeightFormat format, int rows, int columns) => new(format, rows, columns);

    /// <summary>Writes row <paramref name="row"/> from floats.</summary>
    public void PackRow(int row, ReadOnlySpan<float> values)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        if (values.Length != Columns) throw new ArgumentException($"Expected {Columns} values, got {values.Length}.", nameof(values));
        var target = Data.Slice((int)(row * RowBytes), (int)RowBytes);
        switch (Format)
        {
            case WeightFormat.F32: MemoryMarshal.AsBytes(values).CopyTo(target); break;
            case WeightFormat.BF16: BlockQuantizer.ToBFloat16(values, MemoryMarshal.Cast<byte, ushort>(target)); break;
            case WeightFormat.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<byte, Half>(target)); break;
            case WeightFormat.Int8: BlockQuantizer.QuantizeInt8(values, MemoryMarshal.Cast<byte, sbyte>(target), Scales.Slice(row * ScalesPerRow, ScalesPerRow)); break;
            case WeightFormat.Int4: BlockQuantizer.QuantizeInt4(values, target, Scales.Slice(row * ScalesPerRow, ScalesPerRow)); break;
        }
    }

    /// <summary>A matrix from stored bytes (a quantized checkpoint): values as <see cref="Data"/> lays them out and the block scales.</summary>
    /// <exception cref="ArgumentException">The byte or scale count does not fit the shape.</exception>
    public static PackedMatrix FromStored(WeightFormat format, int rows, int columns, ReadOnlySpan<byte> values, ReadOnlySpan<Half> blockScales)
    {
        var packed = new PackedMatrix(format, rows, columns);
        try
        {
            if (values.Length != packed.Data.Length) throw new ArgumentException($"{format.Name()} [{rows}, {columns}] takes {packed.Data.Length} bytes of values, got {values.Length}.", nameof(values));
            if (blockScales.Length != packed.Scales.Length) throw new ArgumentException($"{format.Name()} [{rows}, {columns}] takes {packed.Scales.Length} scales, got {blockScales.Length}.", nameof(blockScales));
            values.CopyTo(packed.Data);
            blockScales.CopyTo(packed.Scales);
            return packed;
        }
        catch
        {
            packed.Dispose();
            throw;
        }
    }

    T* Live<T>(T* pointer) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(data is null, this);
        return pointer;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Native.HugePages.Free(data, DataBytes);
        Native.HugePages.Free(scales, ScaleBytes);
        data = null;
        scales = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native memory of a matrix nobody disposed.</summary>
    ~PackedMatrix() => Dispose();
}
