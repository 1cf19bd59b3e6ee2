using LlavaModal.Abstractions;

namespace LlavaModal.Samples.MoleculeGraph.Smiles;

/// <summary>A SMILES string outside the accepted subset or malformed: the message names the input, the problem and the character position (1-based).</summary>
public sealed class InvalidSmilesException : LlavaModalException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="source">Where the SMILES came from (a file, a message).</param>
    /// <param name="position">1-based character position of the problem, or null when it concerns the whole input.</param>
    /// <param name="problem">What is wrong.</param>
    public InvalidSmilesException(string source, int? position, string problem)
        : base($"{source}: invalid SMILES{(position is int p ? $" at character {p}" : "")}: {problem}")
    {
        Position = position;
        Problem = problem;
    }

    /// <summary>1-based character position of the problem, or null.</summary>
    public int? Position { get; }

    /// <summary>What is wrong, without the source and position.</summary>
    public string Problem { get; }
}
