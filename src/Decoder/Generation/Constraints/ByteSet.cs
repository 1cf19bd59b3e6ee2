using System.Numerics;

namespace LlavaModal.Decoder.Generation.Constraints;

/// <summary>A set of bytes (256 bits): what one grammar element accepts.</summary>
readonly record struct ByteSet(ulong B0, ulong B1, ulong B2, ulong B3)
{
    /// <summary>The bytes from <paramref name="low"/> to <paramref name="high"/>, inclusive.</summary>
    public static ByteSet Range(int low, int high)
    {
        var set = default(ByteSet);
        for (int b = low; b <= high; b++) set = set.With(b);
        return set;
    }

    /// <summary>The ASCII characters of <paramref name="chars"/>.</summary>
    public static ByteSet Of(string chars)
    {
        var set = default(ByteSet);
        foreach (char c in chars)
        {
            if (c > 0x7F) throw new ArgumentException($"'{c}' is not ASCII; write a non-ASCII literal as a string of its UTF-8 bytes.", nameof(chars));
            set = set.With(c);
        }
        return set;
    }

    /// <summary>Whether <paramref name="b"/> is in the set.</summary>
    public bool Contains(byte b) => ((b >> 6) switch { 0 => B0, 1 => B1, 2 => B2, _ => B3 } & (1UL << (b & 63))) != 0;

    /// <summary>The smallest byte in the set (for the shortest completion), or -1 when empty.</summary>
    public int Min => B0 != 0 ? BitOperations.TrailingZeroCount(B0) : B1 != 0 ? 64 + BitOperations.TrailingZeroCount(B1)
        : B2 != 0 ? 128 + BitOperations.TrailingZeroCount(B2) : B3 != 0 ? 192 + BitOperations.TrailingZeroCount(B3) : -1;

    /// <summary>This set and <paramref name="other"/>.</summary>
    public ByteSet Union(ByteSet other) => new(B0 | other.B0, B1 | other.B1, B2 | other.B2, B3 | other.B3);

    /// <summary>This set without <paramref name="other"/>.</summary>
    public ByteSet Except(ByteSet other) => new(B0 & ~other.B0, B1 & ~other.B1, B2 & ~other.B2, B3 & ~other.B3);

    ByteSet With(int b)
    {
        ulong bit = 1UL << (b & 63);
        return (b >> 6) switch
        {
            0 => this with { B0 = B0 | bit },
            1 => this with { B1 = B1 | bit },
            2 => this with { B2 = B2 | bit },
            _ => this with { B3 = B3 | bit },
        };
    }
}
