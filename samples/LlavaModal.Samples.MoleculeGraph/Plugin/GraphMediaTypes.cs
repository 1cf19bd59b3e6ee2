namespace LlavaModal.Samples.MoleculeGraph.Plugin;

/// <summary>The media types the graph plugin takes.</summary>
public static class GraphMediaTypes
{
    /// <summary>Daylight SMILES (the type chemical MIME registrations use; file extension <c>.smi</c>).</summary>
    public const string Smiles = "chemical/x-daylight-smiles";
}
