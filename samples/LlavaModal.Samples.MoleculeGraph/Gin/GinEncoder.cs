using LlavaModal.Abstractions.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Samples.MoleculeGraph.Gin;

/// <summary>
/// One GIN layer with bond features, as the pretrained GNNs MoleculeSTM uses (Hu et al.'s GINConv): every atom sums its
/// neighbours' states plus an embedding of the bond to each, adds its own state, and passes the sum through a two-layer
/// MLP, then a LayerNorm (instead of BatchNorm, so a single molecule encodes exactly as in a batch).
/// h'_v = norm(MLP(h_v + Σ_{u∈N(v)} (h_u + e_{bond(u,v)}))).
/// </summary>
sealed class GinLayer : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Embedding bond_embedding;
    readonly Linear linear_1, linear_2;
    readonly LayerNorm norm;
#pragma warning restore IDE1006

    public GinLayer(int hidden) : base(nameof(GinLayer))
    {
        bond_embedding = nn.Embedding(GinConfig.BondVocabulary, hidden);
        linear_1 = nn.Linear(hidden, 2 * hidden);
        linear_2 = nn.Linear(2 * hidden, hidden);
        norm = nn.LayerNorm(hidden);
        RegisterComponents();
    }

    /// <summary>States [B, N, d] and bond orders [B, N, N] (0 none) to new states.</summary>
    public Tensor Forward(Tensor h, Tensor bonds)
    {
        using var scope = NewDisposeScope();
        var aggregated = h;
        for (long order = 1; order < GinConfig.BondVocabulary; order++)
        {
            // Sum aggregation over neighbours bonded with this order: A_b · h, plus e_b once per such neighbour.
            var adjacency = Scalars.With(order, s => bonds.eq(s)).to(h.dtype);
            var embedding = bond_embedding.weight!.select(0, order);
            aggregated = aggregated.Plus(adjacency.bmm(h)).Plus(adjacency.sum(-1, keepdim: true) * embedding);
        }
        var x = linear_2.forward(nn.functional.relu(linear_1.forward(aggregated)));
        return norm.forward(x).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A GIN graph encoder over the sample's molecules: atom embeddings, <see cref="GinConfig.Layers"/> message-passing
/// layers added residually (ReLU on all but the last layer's update), atom states out. Module paths are the checkpoint's tensor names below <c>graph_tower.</c>
/// (<c>atom_embedding.weight</c>, <c>layers.0.linear_1.weight</c>, ...).
/// </summary>
public sealed class GinEncoder : nn.Module
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Embedding atom_embedding;
    readonly ModuleList<GinLayer> layers;
#pragma warning restore IDE1006

    /// <summary>A randomly initialised encoder of <paramref name="config"/>'s shape.</summary>
    public GinEncoder(GinConfig config) : base(nameof(GinEncoder))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        atom_embedding = nn.Embedding(GinConfig.AtomVocabulary, config.HiddenSize);
        layers = new ModuleList<GinLayer>(Enumerable.Range(0, config.Layers).Select(_ => new GinLayer(config.HiddenSize)).ToArray());
        RegisterComponents();
    }

    /// <summary>The shape.</summary>
    public GinConfig Config { get; }

    /// <summary>
    /// Atom states [B, N, d] of a batch of molecules padded to N atoms: <paramref name="atoms"/> [B, N] atom ids (padding:
    /// any id, isolated by having no bonds), <paramref name="bonds"/> [B, N, N] bond orders.
    /// </summary>
    public Tensor Forward(Tensor atoms, Tensor bonds)
    {
        ArgumentNullException.ThrowIfNull(atoms);
        ArgumentNullException.ThrowIfNull(bonds);
        using var scope = NewDisposeScope();
        var h = atom_embedding.forward(atoms);
        for (int i = 0; i < layers.Count; i++)
        {
            // Residual: each layer adds to the atom's state, so the element's own embedding stays in it and the
            // readout's sum keeps exact per-element counts (without it, carbon counts were read right 68-91% of the time).
            var update = layers[i].Forward(h, bonds);
            h = h.Plus(i < layers.Count - 1 ? nn.functional.relu(update) : update);
        }
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The tokens of molecules for the language model, [B, 1 + N, d]: the sum of the atoms' states (the graph readout, as
    /// GIN pools for whole-graph prediction: counts add up in it), then every atom's state. <paramref name="mask"/> [B, N]
    /// is 1 for real atoms, 0 for padding.
    /// </summary>
    public Tensor Tokens(Tensor atoms, Tensor bonds, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        using var scope = NewDisposeScope();
        var h = Forward(atoms, bonds);
        var states = h * mask.unsqueeze(-1).to(h.dtype);
        var readout = states.sum(1, keepdim: true);
        return cat([readout, states], 1).MoveToOuterDisposeScope();
    }
}
