using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Weights;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace LlavaModal.Core.Checkpoints;

/// <summary>
/// Rows of one 2-D tensor of a <see cref="SafeTensorsFile"/>, read with positional reads on the handle the file was
/// validated through (so a file renamed over it later is not read). A file rewritten in place after opening (other
/// length or modification time) is refused instead of read as weights.
/// </summary>
sealed class SafeTensorsRows : ITensorRows
{
    readonly SafeTensorsFile file;
    readonly SafeFileHandle handle;
    readonly long start;
    readonly long rowBytes;
    readonly long length;
    readonly DateTime modified;
    int disposed;

    internal SafeTensorsRows(SafeTensorsFile file, SafeFileHandle handle, long start, SafeTensorInfo info)
    {
        this.file = file;
        this.handle = handle;
        this.start = start;
        StoredType = info.ScalarType;
        Rows = info.Shape[0];
        Columns = info.Shape[1];
        rowBytes = Columns * SafeTensorsDTypes.ElementSize(info.DType);
        length = RandomAccess.GetLength(handle);
        modified = File.GetLastWriteTimeUtc(handle);
    }

    public string Path => file.Path;

    public ScalarType StoredType { get; }

    public long Rows { get; }

    public long Columns { get; }

    public void Read(ReadOnlySpan<long> rows, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        if (destination.Length != rows.Length * rowBytes)
            throw new ArgumentException($"{rows.Length} rows of {rowBytes} bytes need {rows.Length * rowBytes} bytes; the destination has {destination.Length}.", nameof(destination));
        foreach (var r in rows)
            if ((ulong)r >= (ulong)Rows) throw new ArgumentOutOfRangeException(nameof(rows), r, $"row {r} is outside the {Rows} rows of a tensor in {Path}.");
        long nowLength = RandomAccess.GetLength(handle);
        var nowModified = File.GetLastWriteTimeUtc(handle);
        if (nowLength != length || nowModified != modified)
            throw new CheckpointException(Path, $"the file changed after the model loaded ({length} -> {nowLength} bytes, modified {modified:O} -> {nowModified:O}); reload the model.");
        // A run of adjacent rows (ids n, n+1, ...) is one read.
        for (int i = 0; i < rows.Length;)
        {
            int run = 1;
            while (i + run < rows.Length && rows[i + run] == rows[i] + run) run++;
            SafeTensorsFile.ReadExactly(handle, destination.Slice((int)(i * rowBytes), (int)(run * rowBytes)), start + rows[i] * rowBytes, Path);
            i += run;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0) file.Release();
    }
}
