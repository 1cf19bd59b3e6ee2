namespace LlavaModal.Cli.Toy;

/// <summary>
/// Draws random scenes from a seed: 1 to <see cref="MaxObjects"/> objects of distinct colours (from
/// <see cref="Colors"/>), shapes circle / square / triangle with at least one shape occurring exactly once (so "what
/// colour is the SHAPE?" always has one answer), small or large, at non-overlapping positions centred on the corners of
/// the vision tower's patch grid (so every patch an object covers shows part of its outline), on a muted background.
/// The same seed gives the same scenes on every machine (System.Random with a seed is stable across .NET versions).
/// </summary>
sealed class SceneGenerator
{
    /// <summary>The palette: saturated colours far apart from each other and from the muted backgrounds.</summary>
    public static readonly IReadOnlyList<SceneColor> Colors =
    [
        new("red", 220, 30, 30),
        new("green", 30, 170, 50),
        new("blue", 30, 70, 230),
        new("yellow", 240, 220, 20),
        new("purple", 150, 40, 200),
        new("orange", 250, 130, 10),
    ];

    /// <summary>The shapes.</summary>
    public static readonly IReadOnlyList<ShapeKind> Shapes = [ShapeKind.Circle, ShapeKind.Square, ShapeKind.Triangle];

    /// <summary>Most objects in a scene.</summary>
    public const int MaxObjects = 4;

    readonly Random random;

    /// <summary>Creates a generator.</summary>
    /// <param name="seed">Seed.</param>
    /// <param name="size">Image side in pixels.</param>
    /// <param name="patchSize">
    /// The vision tower's patch side: objects are centred on patch corners with a radius of 3/4 of a patch (small) or one
    /// patch (large), so each object covers a 2x2 block of patches and each of those patches holds one quadrant of its
    /// outline (readable from the patch alone). 0 places objects freely with radii relative to the image (the first design,
    /// whose flat object interiors made shapes unreadable per patch).
    /// </param>
    public SceneGenerator(int seed, int size = 64, int patchSize = 8)
    {
        if (patchSize < 0 || (patchSize > 0 && (size % patchSize != 0 || size / patchSize < 2)))
            throw new ArgumentException($"patch size {patchSize} does not tile a {size}-pixel image into at least 2x2 patches.", nameof(patchSize));
        random = new Random(seed);
        Size = size;
        PatchSize = patchSize;
    }

    /// <summary>Patch side objects are aligned to (0 = free placement).</summary>
    public int PatchSize { get; }

    /// <summary>Image side in pixels.</summary>
    public int Size { get; }

    /// <summary>The next scene.</summary>
    public Scene Next()
    {
        while (true)
        {
            int count = random.Next(1, MaxObjects + 1);
            var colors = Colors.OrderBy(_ => random.Next()).Take(count).ToList();
            var shapes = Enumerable.Range(0, count).Select(_ => Shapes[random.Next(Shapes.Count)]).ToList();
            if (!shapes.GroupBy(s => s).Any(g => g.Count() == 1)) continue;
            var placed = new List<SceneObject>();
            bool ok = true;
            for (int i = 0; i < count && ok; i++)
            {
                ok = false;
                for (int attempt = 0; attempt < 60 && !ok; attempt++)
                {
                    bool large = random.Next(2) == 1;
                    int r, x, y;
                    if (PatchSize > 0)
                    {
                        r = large ? PatchSize : PatchSize * 3 / 4;
                        int corners = Size / PatchSize - 1;
                        x = PatchSize * random.Next(1, corners + 1);
                        y = PatchSize * random.Next(1, corners + 1);
                    }
                    else
                    {
                        r = large ? random.Next(Size * 10 / 64, Size * 13 / 64 + 1) : random.Next(Size * 6 / 64, Size * 8 / 64 + 1);
                        x = random.Next(r + 1, Size - r - 1);
                        y = random.Next(r + 1, Size - r - 1);
                    }
                    if (placed.All(p => Math.Sqrt((p.X - x) * (p.X - x) + (p.Y - y) * (p.Y - y)) > p.Radius + r + 2))
                    {
                        placed.Add(new SceneObject(shapes[i], colors[i], large, x, y, r));
                        ok = true;
                    }
                }
            }
            if (!ok) continue;
            // Muted background: a grey level with a small tint, never close to a palette colour.
            int level = random.Next(120, 236);
            (byte, byte, byte) background = ((byte)Math.Clamp(level + random.Next(-12, 13), 0, 255), (byte)Math.Clamp(level + random.Next(-12, 13), 0, 255), (byte)Math.Clamp(level + random.Next(-12, 13), 0, 255));
            return new Scene(Size, background, random.Next(), placed.OrderBy(o => o.X).ThenBy(o => o.Y).ToList());
        }
    }
}
