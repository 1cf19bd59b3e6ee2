namespace LlavaModal.Samples.MoleculeGraph.Chemistry;

/// <summary>The elements the sample reads: SMILES's organic subset without boron and phosphorus. The values are the graph encoder's atom ids.</summary>
public enum Element
{
    /// <summary>Carbon (valence 4).</summary>
    C,
    /// <summary>Nitrogen (valence 3).</summary>
    N,
    /// <summary>Oxygen (valence 2).</summary>
    O,
    /// <summary>Sulfur (valence 2, 4 or 6: at most 6 bonds' worth).</summary>
    S,
    /// <summary>Fluorine (valence 1).</summary>
    F,
    /// <summary>Chlorine (valence 1).</summary>
    Cl,
    /// <summary>Bromine (valence 1).</summary>
    Br,
    /// <summary>Iodine (valence 1).</summary>
    I,
}

/// <summary>Facts about <see cref="Element"/>s.</summary>
public static class Elements
{
    /// <summary>Number of elements (the encoder's atom vocabulary, before its mask id).</summary>
    public const int Count = 8;

    /// <summary>Most bonds' worth of valence an atom of <paramref name="e"/> takes (bond orders summed; hydrogens are implicit).</summary>
    public static int MaxValence(Element e) => e switch
    {
        Element.C => 4,
        Element.N => 3,
        Element.O => 2,
        Element.S => 6,
        _ => 1,
    };

    /// <summary>True for F, Cl, Br and I.</summary>
    public static bool IsHalogen(Element e) => e is Element.F or Element.Cl or Element.Br or Element.I;

    /// <summary>The SMILES symbol (<c>Cl</c>).</summary>
    public static string Symbol(Element e) => e.ToString();
}
