namespace LlavaModal.Abstractions.Decoding;

/// <summary>
/// The key/value memory of continuous batching: one row per sequence, each filled from position 0 to its own length.
/// A sequence is prefilled alone into its row (<see cref="Prefill"/>); a decode step runs a run of rows at once
/// (<see cref="Step"/>), each writing its new position at its own length. Rows and positions grow on demand.
/// Created by <see cref="CausalLanguageModel.CreateCache"/>, so a family can bring its own layout.
/// </summary>
public interface IBatchKvCache : IDisposable
{
    /// <summary>Rows allocated now.</summary>
    int Rows { get; }

    /// <summary>Positions each row holds now.</summary>
    long Capacity { get; }

    /// <summary>Grows to at least <paramref name="rows"/> rows of <paramref name="positions"/> positions (doubling), keeping what is cached.</summary>
    void EnsureCapacity(int rows, long positions);

    /// <summary>A batch-1 view of row <paramref name="row"/> holding its first <paramref name="length"/> positions, for prefilling after them.</summary>
    IKvCache Prefill(int row, long length = 0);

    /// <summary>
    /// A view of rows <paramref name="first"/>..<paramref name="first"/>+<paramref name="lengths"/>.Length-1 for one decode step of
    /// one new position each: row b writes at <c>lengths[b]</c>; <see cref="IKvCache.Length"/> is the longest row, so keys past a
    /// shorter row's length must be masked out by the caller.
    /// </summary>
    IKvCache Step(int first, IReadOnlyList<long> lengths);

    /// <summary>Copies row <paramref name="from"/>'s first <paramref name="length"/> positions into row <paramref name="to"/> (keeping active rows contiguous).</summary>
    void MoveRow(int from, int to, long length);

    /// <summary>Copies of row <paramref name="row"/>'s first <paramref name="length"/> positions (to reuse a prompt prefix later).</summary>
    CachedPrefix Save(int row, long length);

    /// <summary>Writes the first <paramref name="length"/> positions of a saved prefix into row <paramref name="row"/> from position 0.</summary>
    void Load(int row, CachedPrefix prefix, long length);
}
