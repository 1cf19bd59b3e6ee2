using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Weights;

/// <summary>
/// The rows of a stored two-dimensional tensor, read from the checkpoint file on demand after loading (a token
/// embedding table, of which a step needs a row or a few): the table never has to be resident. Holds the file open
/// until disposed; reads may run on several threads at once.
/// </summary>
public interface ITensorRows : IDisposable
{
    /// <summary>The file the rows are read from, for messages.</summary>
    string Path { get; }

    /// <summary>The stored element type.</summary>
    ScalarType StoredType { get; }

    /// <summary>Number of rows.</summary>
    long Rows { get; }

    /// <summary>Elements per row.</summary>
    long Columns { get; }

    /// <summary>
    /// Copies rows <paramref name="rows"/>, in that order, into <paramref name="destination"/>
    /// (<c>rows.Length × Columns</c> elements of <see cref="StoredType"/>, row after row).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A row index outside <c>[0, Rows)</c>.</exception>
    /// <exception cref="CheckpointException">The file was changed or truncated since it was opened.</exception>
    void Read(ReadOnlySpan<long> rows, Span<byte> destination);
}
