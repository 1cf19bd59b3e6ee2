using LlavaModal.Encoders.Vision.Preprocessing;

namespace LlavaModal.Cli.Toy;

/// <summary>A shape of the synthetic scenes.</summary>
enum ShapeKind
{
    /// <summary>A filled circle.</summary>
    Circle,
    /// <summary>A filled axis-aligned square.</summary>
    Square,
    /// <summary>A filled upward triangle.</summary>
    Triangle,
}

/// <summary>A colour of the synthetic scenes with its RGB value.</summary>
/// <param name="Name">The word the curriculum uses.</param>
/// <param name="R">Red.</param>
/// <param name="G">Green.</param>
/// <param name="B">Blue.</param>
sealed record SceneColor(string Name, byte R, byte G, byte B);

/// <summary>One object: shape, colour, size word, centre and radius in pixels.</summary>
/// <param name="Shape">Shape.</param>
/// <param name="Color">Colour.</param>
/// <param name="Large">True for a large object, false for a small one.</param>
/// <param name="X">Centre x.</param>
/// <param name="Y">Centre y.</param>
/// <param name="Radius">Half the side (square) or circumradius-like extent (circle, triangle).</param>
sealed record SceneObject(ShapeKind Shape, SceneColor Color, bool Large, int X, int Y, int Radius)
{
    /// <summary>Lower-case shape word.</summary>
    public string ShapeName => Shape.ToString().ToLowerInvariant();

    /// <summary>True when pixel (<paramref name="px"/>, <paramref name="py"/>) is inside the object.</summary>
    public bool Contains(int px, int py)
    {
        double dx = px + 0.5 - X, dy = py + 0.5 - Y;
        return Shape switch
        {
            ShapeKind.Circle => dx * dx + dy * dy <= Radius * Radius,
            ShapeKind.Square => Math.Abs(dx) <= Radius * 0.85 && Math.Abs(dy) <= Radius * 0.85,
            // Apex at (0, -r), base at y = +0.8 r with half-width r.
            _ => dy >= -Radius && dy <= 0.8 * Radius && Math.Abs(dx) <= (dy + Radius) / 1.8,
        };
    }
}

/// <summary>A synthetic scene: a background colour with per-pixel noise, and 1 to 4 non-overlapping objects with distinct colours.</summary>
/// <param name="Size">Image side in pixels.</param>
/// <param name="Background">Background RGB.</param>
/// <param name="NoiseSeed">Seed of the background noise.</param>
/// <param name="Objects">The objects, left to right.</param>
sealed record Scene(int Size, (byte R, byte G, byte B) Background, int NoiseSeed, IReadOnlyList<SceneObject> Objects)
{
    /// <summary>Draws the scene.</summary>
    public RgbImage Render()
    {
        var pixels = new byte[Size * Size * 3];
        var noise = new Random(NoiseSeed);
        for (int y = 0; y < Size; y++)
        {
            for (int x = 0; x < Size; x++)
            {
                int i = (y * Size + x) * 3;
                var owner = ObjectAt(x, y);
                if (owner is not null)
                {
                    pixels[i] = owner.Color.R; pixels[i + 1] = owner.Color.G; pixels[i + 2] = owner.Color.B;
                }
                else
                {
                    int n = noise.Next(-6, 7);
                    pixels[i] = Clamp(Background.R + n); pixels[i + 1] = Clamp(Background.G + n); pixels[i + 2] = Clamp(Background.B + n);
                }
            }
        }
        return new RgbImage(Size, Size, pixels);
    }

    /// <summary>The object covering pixel (<paramref name="x"/>, <paramref name="y"/>), or null for background.</summary>
    public SceneObject? ObjectAt(int x, int y)
    {
        foreach (var o in Objects) if (o.Contains(x, y)) return o;
        return null;
    }

    static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);
}
