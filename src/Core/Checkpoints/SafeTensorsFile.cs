using System.Text.Json;
using System.Text.Unicode;
using LlavaModal.Abstractions;
using LlavaModal.Abstractions.IO;
using LlavaModal.Abstractions.Weights;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace LlavaModal.Core.Checkpoints;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">Tensor name (<c>model.layers.0.self_attn.q_proj.weight</c>).</param>
/// <param name="DType">The safetensors dtype string (<c>F32</c>, <c>BF16</c>, ...).</param>
/// <param name="Shape">The shape.</param>
/// <param name="Begin">Start of the data, relative to the end of the header.</param>
/// <param name="End">End of the data (exclusive), relative to the end of the header.</param>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>The TorchSharp element type of the stored data.</summary>
    public ScalarType ScalarType => SafeTensorsDTypes.ToScalarType(DType);

    /// <summary>Number of elements.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads a <c>.safetensors</c> file, treating it as untrusted input: the header is validated in full
/// (regular file, size, UTF-8 JSON, unique names, dtypes, shapes, numeric offsets in range, exactly the bytes the dtype
/// and shape need, not overlapping) before any tensor is read, and
/// tensors are read straight into their destination's memory, so loading never needs twice the checkpoint in RAM.
/// Written by hand because TorchSharp.PyBridge's reader materialises whole files and does not validate offsets.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Headers larger than this are refused (the format's own reference limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly SafeFileHandle handle;
    readonly long dataStart;
    // Row readers (OpenRows) keep the handle open past Dispose: it closes when the last of them is done.
    readonly Lock gate = new();
    int leases;
    bool disposed;

    SafeTensorsFile(string path, SafeFileHandle handle, long dataStart, Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        this.handle = handle;
        this.dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Every tensor in the file, by name.</summary>
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    /// <exception cref="CheckpointException">The file is missing, not a regular file, truncated or its header is malformed; the message names the file and the problem.</exception>
    public static SafeTensorsFile Open(string path)
    {
        // A FIFO would block the open forever and a device would never end: only regular files are opened.
        if (InputFiles.Refusal(path, long.MaxValue, "") is { } refusal) throw new CheckpointException(path, refusal);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length < 8) throw new CheckpointException(path, $"not a safetensors file: {length} bytes, too short for the 8-byte header length.");
            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(handle, prefix, 0, path);
            long headerLength = (long)BitConverter.ToUInt64(prefix);
            if (headerLength > MaxHeaderBytes || headerLength < 0)
                throw new CheckpointException(path, $"header length {(ulong)headerLength} exceeds the {MaxHeaderBytes}-byte limit (corrupt or not a safetensors file).");
            if (8 + headerLength > length)
                throw new CheckpointException(path, $"header length {headerLength} runs past the end of the file ({length} bytes): truncated or not a safetensors file.");
            var header = new byte[headerLength];
            ReadExactly(handle, header, 8, path);
            long dataLength = length - 8 - headerLength;
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafeTensorsFile(path, handle, 8 + headerLength, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        if (!Utf8.IsValid(header)) throw new CheckpointException(path, "header is not valid UTF-8 (a tensor name or value holds invalid bytes).");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new CheckpointException(path, $"header is not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(path, "header is not a JSON object.");
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw new CheckpointException(path, "'__metadata__' is not an object.");
                    foreach (var m in property.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                // JSON allows a key twice; the reference would keep the last one and never check the first one's bytes.
                if (!tensors.TryAdd(property.Name, ParseEntry(path, property.Name, property.Value, dataLength)))
                    throw new CheckpointException(path, $"tensor '{property.Name}' appears twice in the header.");
            }
            CheckNoOverlap(path, tensors.Values);
            return (tensors, metadata);
        }
    }

    static SafeTensorInfo ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        string Where() => $"tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new CheckpointException(path, $"{Where()}: entry is not an object.");
        if (!e.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new CheckpointException(path, $"{Where()}: missing 'dtype'.");
        var dtype = dtypeElement.GetString()!;
        if (!SafeTensorsDTypes.IsSupported(dtype))
            throw new CheckpointException(path, $"{Where()}: unknown or unsupported dtype '{dtype}' (supported: {string.Join(", ", SafeTensorsDTypes.Supported)}).");
        if (!e.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new CheckpointException(path, $"{Where()}: missing 'shape'.");
        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
                throw new CheckpointException(path, $"{Where()}: shape [{shapeElement.GetRawText()}] has an invalid dimension.");
            shape[i++] = dim;
            try { elements = checked(elements * dim); }
            catch (OverflowException) { throw new CheckpointException(path, $"{Where()}: shape {shapeElement.GetRawText()} is too large."); }
        }
        if (!e.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new CheckpointException(path, $"{Where()}: 'data_offsets' must be [begin, end].");
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new CheckpointException(path, $"{Where()}: invalid data_offsets {offsets.GetRawText()}.");
        if (end > dataLength)
            throw new CheckpointException(path, $"{Where()}: data_offsets {offsets.GetRawText()} run past the end of the data ({dataLength} bytes): the file is truncated or corrupt.");
        long expected;
        try { expected = checked(elements * SafeTensorsDTypes.ElementSize(dtype)); }
        catch (OverflowException) { throw new CheckpointException(path, $"{Where()}: shape is too large."); }
        if (end - begin != expected)
            throw new CheckpointException(path, $"{Where()}: shape {shapeElement.GetRawText()} of {dtype} needs {expected} bytes but data_offsets {offsets.GetRawText()} span {end - begin}.");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    static void CheckNoOverlap(string path, IEnumerable<SafeTensorInfo> tensors)
    {
        SafeTensorInfo? previous = null;
        foreach (var t in tensors.Where(t => t.End > t.Begin).OrderBy(t => t.Begin))
        {
            if (previous is not null && t.Begin < previous.End)
                throw new CheckpointException(path, $"tensors '{previous.Name}' [{previous.Begin}, {previous.End}) and '{t.Name}' [{t.Begin}, {t.End}) overlap.");
            previous = t;
        }
    }

    SafeTensorInfo Info(string name)
    {
        // The handle may outlive Dispose (a row reader's lease); this object may not.
        ObjectDisposedException.ThrowIf(disposed, this);
        return Tensors.TryGetValue(name, out var info) ? info : throw new CheckpointException(Path, $"no tensor named '{name}'.");
    }

    /// <summary>Reads a tensor's raw little-endian bytes.</summary>
    public byte[] ReadBytes(string name)
    {
        var info = Info(name);
        var bytes = new byte[info.End - info.Begin];
        ReadExactly(handle, bytes, dataStart + info.Begin, Path);
        return bytes;
    }

    /// <summary>Reads a tensor into new memory, optionally converting its dtype and moving it to <paramref name="device"/>.</summary>
    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null)
    {
        var info = Info(name);
        var stored = empty(info.Shape, info.ScalarType);
        ReadRaw(info, stored);
        if ((dtype is null || dtype == info.ScalarType) && (device is null || device.type == DeviceType.CPU))
            return stored;
        using (stored)
            return stored.to(dtype ?? info.ScalarType, device ?? CPU);
    }

    /// <summary>
    /// Reads a tensor into <paramref name="destination"/> (same shape; dtype converted when it differs).
    /// A contiguous CPU destination of the stored dtype is filled in place, with no intermediate copy.
    /// </summary>
    /// <exception cref="CheckpointException">The shapes differ.</exception>
    public void ReadInto(string name, Tensor destination)
    {
        var info = Info(name);
        if (!destination.shape.SequenceEqual(info.Shape))
            throw new CheckpointException(Path, $"tensor '{name}' has shape [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", destination.shape)}].");
        using var _ = no_grad();
        if (destination.dtype == info.ScalarType && destination.device_type == DeviceType.CPU && destination.is_contiguous())
        {
            ReadRaw(info, destination);
            return;
        }
        using var stored = empty(info.Shape, info.ScalarType);
        ReadRaw(info, stored);
        destination.copy_(stored);
    }

    void ReadRaw(SafeTensorInfo info, Tensor destination)
    {
        long total = info.End - info.Begin;
        if (total == 0) return;
        // Span-based access is limited to 2 GiB, so very large tensors are filled in row blocks.
        const long chunk = 1L << 30;
        if (total <= chunk)
        {
            ReadExactly(handle, destination.bytes, dataStart + info.Begin, Path);
            return;
        }
        long rows = info.Shape[0];
        long rowBytes = total / rows;
        long rowsPerChunk = Math.Max(1, chunk / rowBytes);
        for (long r = 0; r < rows; r += rowsPerChunk)
        {
            long n = Math.Min(rowsPerChunk, rows - r);
            using var block = destination.narrow(0, r, n);
            ReadExactly(handle, block.bytes, dataStart + info.Begin + r * rowBytes, Path);
        }
    }

    /// <summary>
    /// The rows of 2-D tensor <paramref name="name"/>, read from this file on demand until the reader is disposed (it
    /// keeps the file open after this object is disposed); null for a tensor of another rank.
    /// </summary>
    public ITensorRows? OpenRows(string name)
    {
        var info = Info(name);
        if (info.Shape.Length != 2) return null;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            leases++;
        }
        return new SafeTensorsRows(this, handle, dataStart + info.Begin, info);
    }

    /// <summary>Ends a lease <see cref="OpenRows"/> took; the last one after <see cref="Dispose"/> closes the file.</summary>
    internal void Release()
    {
        lock (gate)
            if (--leases == 0 && disposed) handle.Dispose();
    }

    internal static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path)
    {
        while (buffer.Length > 0)
        {
            int n = RandomAccess.Read(handle, buffer, offset);
            if (n <= 0) throw new CheckpointException(path, $"unexpected end of file at byte {offset}.");
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            if (leases == 0) handle.Dispose();
        }
    }
}
