using System.Runtime.InteropServices;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Abstractions.Weights;
using LlavaModal.Core.Checkpoints;
using static TorchSharp.torch;

namespace LlavaModal.Core.Quantization;

/// <summary>
/// The token embedding table of a model loaded in a weight format, left in the checkpoint file: a lookup reads the rows
/// it needs (one per decode step) and widens them to the model's dtype, so the table (125-250 MiB at 1.1B) is never
/// resident, as llama.cpp leaves its table in the mapped file. A source that cannot be read by row (an adapter merged
/// into the base) has the table read into memory in the held dtype instead.
/// </summary>
sealed class FileEmbedding : nn.Module<Tensor, Tensor>, IReadsOwnWeights, IHoldsOwnWeights
{
    const string WeightName = "weight";
    readonly long count;
    readonly long dimensions;
    readonly ScalarType dtype;
    readonly ScalarType heldType;
    ITensorRows? rows;
    Tensor? table;

    /// <param name="name">The module name.</param>
    /// <param name="count">Rows (the vocabulary).</param>
    /// <param name="dimensions">Width of a row.</param>
    /// <param name="dtype">The dtype lookups return.</param>
    /// <param name="heldType">The dtype of a table held in memory, when its rows cannot stay in the file.</param>
    public FileEmbedding(string name, long count, long dimensions, ScalarType dtype, ScalarType heldType) : base(name)
    {
        this.count = count;
        this.dimensions = dimensions;
        this.dtype = dtype;
        this.heldType = heldType;
        RegisterComponents();
    }

    /// <summary>True once loaded with the rows left in the file (false: the table is in memory).</summary>
    internal bool ReadsFromFile => rows is not null;

    public long WeightCount => count * dimensions;

    /// <summary>The rows of <paramref name="input"/> (token ids, any shape): [..., dimensions] in the model's dtype.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside the vocabulary.</exception>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var ids = input.reshape(-1).to(ScalarType.Int64).cpu().contiguous();
        var span = MemoryMarshal.Cast<byte, long>(ids.bytes);
        foreach (var id in span)
            if ((ulong)id >= (ulong)count) throw new ArgumentOutOfRangeException(nameof(input), id, $"token id {id} is outside the embedding table's {count} rows.");
        Tensor found;
        if (table is not null) found = table.index_select(0, ids);
        else
        {
            var source = rows ?? throw new InvalidOperationException($"{GetName()}: the embedding table has not been loaded.");
            found = empty([span.Length, dimensions], source.StoredType);
            source.Read(span, found.bytes);
        }
        if (found.dtype != dtype) found = found.to(dtype);
        return found.reshape([.. input.shape, dimensions]).MoveToOuterDisposeScope();
    }

    public (IReadOnlyList<string> Reads, IReadOnlyList<string> Missing, IReadOnlyList<string> Wrong) Inspect(IWeightSource checkpoint, Func<string, string> key)
    {
        var name = key(WeightName);
        if (!checkpoint.Contains(name)) return ([], [name], []);
        if (!checkpoint.Shape(name).SequenceEqual([count, dimensions]))
            return ([name], [], [$"{name} (checkpoint [{string.Join(", ", checkpoint.Shape(name))}], model [{count}, {dimensions}])"]);
        if (checkpoint.StoredType(name) is { } type && type is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            return ([name], [], [$"{name} (checkpoint stores {type}, model needs floating-point {dtype})"]);
        return ([name], [], []);
    }

    public void Read(IWeightSource checkpoint, Func<string, string> key)
    {
        var name = key(WeightName);
        rows?.Dispose();
        table?.Dispose();
        (rows, table) = (null, null);
        rows = checkpoint.OpenRows(name);
        if (rows is null) table = checkpoint.Read(name, heldType);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            rows?.Dispose();
            table?.Dispose();
            (rows, table) = (null, null);
        }
        base.Dispose(disposing);
    }
}
