using LlavaModal.Abstractions.Modality;
using LlavaModal.Samples.MoleculeGraph.Gin;
using LlavaModal.Samples.MoleculeGraph.Smiles;
using static TorchSharp.torch;

namespace LlavaModal.Samples.MoleculeGraph.Plugin;

/// <summary>
/// The graph modality: a molecule given as SMILES (<see cref="GraphMediaTypes.Smiles"/>, see <see cref="SmilesParser"/>
/// for the accepted subset) is parsed into a graph and encoded by a GIN (<see cref="GinEncoder"/>). A molecule of N atoms
/// becomes N + 1 tokens where <c>&lt;graph&gt;</c> stands: the graph readout (sum of atom states), then each atom's state
/// in SMILES order.
/// </summary>
public sealed class MoleculeGraphEncoder : IModalityEncoder
{
    readonly GinEncoder gin;
    readonly bool ownsGin;

    /// <summary>Wraps an encoder (put in eval mode; disposed with this plugin when <paramref name="ownsEncoder"/>).</summary>
    public MoleculeGraphEncoder(GinEncoder encoder, bool ownsEncoder = true)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        gin = encoder;
        ownsGin = ownsEncoder;
        gin.eval();
    }

    /// <summary>The name of the modality: <c>graph</c>.</summary>
    public const string Name = "graph";

    /// <inheritdoc />
    public string Modality => Name;

    /// <inheritdoc />
    public string Placeholder => "<graph>";

    /// <inheritdoc />
    public IReadOnlyList<string> MediaTypes { get; } = [GraphMediaTypes.Smiles];

    /// <inheritdoc />
    public int OutputWidth => gin.Config.HiddenSize;

    /// <inheritdoc />
    public int? FixedTokenCount => null;

    /// <summary>
    /// By media type; an untyped input is taken when it looks like one line of SMILES (short, printable ASCII, starting
    /// with an accepted atom), so a <c>.smi</c> file routes without a type.
    /// </summary>
    public bool Accepts(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.MediaType is not null) return Abstractions.Modality.MediaTypes.Matches(input.MediaType, GraphMediaTypes.Smiles);
        var data = input.Data.Span;
        if (data.Length is 0 or > SmilesParser.MaxLength + 256) return false;
        foreach (var b in data)
            if (b is < 0x20 or > 0x7e && b is not (byte)'\n' and not (byte)'\r' and not (byte)'\t') return false;
        return data[0] is (byte)'C' or (byte)'N' or (byte)'O' or (byte)'S' or (byte)'F' or (byte)'I' or (byte)'B';
    }

    /// <inheritdoc />
    /// <exception cref="InvalidSmilesException">The input is not an accepted SMILES (names the character and the problem).</exception>
    public PreparedInput Prepare(ModalityInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var molecule = SmilesParser.Parse(input.Data.Span, input.Describe());
        return new PreparedInput(MoleculeTensors.Of(molecule), molecule.Atoms.Count + 1, input.Describe());
    }

    /// <inheritdoc />
    public Tensor Encode(PreparedInput input, Device device)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (atoms, bonds, mask) = MoleculeTensors.Unpack(input.Values);
        var weights = gin.parameters().First();
        var tokens = gin.Tokens(atoms.to(weights.device), bonds.to(weights.device), mask.to(weights.device)).squeeze(0);
        return tokens.to(device).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (ownsGin) gin.Dispose();
    }
}
