using System.Diagnostics;
using LlavaModal.Abstractions.Tensors;
using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Gin;
using LlavaModal.Training;
using LlavaModal.Training.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Samples.MoleculeGraph.Curriculum;

/// <summary>Settings of the GIN's pretraining.</summary>
public sealed record GraphPretrainOptions
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 600;
    /// <summary>Molecules per step (fresh molecules every step).</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 3e-3;
    /// <summary>Seed of the molecules, the masks and the initial weights.</summary>
    public int Seed { get; init; }
    /// <summary>Held-out molecules for the reported accuracies.</summary>
    public int EvalMolecules { get; init; } = 512;
    /// <summary>Fraction of atoms masked for masked-atom prediction.</summary>
    public double MaskFraction { get; init; } = 0.15;
    /// <summary>Property heads read the readout through a shared hidden layer (Linear, ReLU) instead of directly.</summary>
    public bool Trunk { get; init; } = true;
}

/// <summary>Held-out accuracies after pretraining.</summary>
/// <param name="MaskedAtomAccuracy">Masked atoms whose element is predicted right.</param>
/// <param name="PropertyAccuracy">Molecules whose nine properties (five counts, rings, three groups) are all predicted right.</param>
/// <param name="FinalLoss">Mean loss of the last 20 steps.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="ByProperty">Held-out accuracy of each property head (<c>carbon</c>, ..., <c>amine</c>).</param>
public sealed record GraphPretrainResult(double MaskedAtomAccuracy, double PropertyAccuracy, double FinalLoss, double Seconds, IReadOnlyDictionary<string, double> ByProperty);

/// <summary>
/// Pretrains the GIN on synthetic molecules with two objectives, both on fresh molecules every step: masked-atom
/// prediction (Hu et al.'s attribute masking, MoleculeSTM's GNN pretraining: 15% of atoms get the mask id and a linear
/// head names their element from their final state) and graph-property prediction from the readout token (the sum of
/// atom states, the token the language model reads first): a linear head each for the number of C, N, O, S and halogen
/// atoms (classes 0-15), the ring count (0-7) and the presence of hydroxyl, carbonyl and amine groups. The heads are
/// discarded; the encoder is what the plugin runs.
/// </summary>
public static class GraphPretrainer
{
    const int MaxCount = 16;
    const int MaxRings = 8;

    sealed class Heads : nn.Module
    {
#pragma warning disable IDE1006 // named as the objectives
        public readonly Linear trunk, atom, carbon, nitrogen, oxygen, sulfur, halogen, rings, hydroxyl, carbonyl, amine;
#pragma warning restore IDE1006
        public Heads(int width, bool useTrunk) : base("heads")
        {
            UseTrunk = useTrunk;
            trunk = nn.Linear(width, 2 * width);
            int inner = useTrunk ? 2 * width : width;
            atom = nn.Linear(width, Elements.Count);
            carbon = nn.Linear(inner, MaxCount);
            nitrogen = nn.Linear(inner, MaxCount);
            oxygen = nn.Linear(inner, MaxCount);
            sulfur = nn.Linear(inner, MaxCount);
            halogen = nn.Linear(inner, MaxCount);
            rings = nn.Linear(inner, MaxRings);
            hydroxyl = nn.Linear(inner, 2);
            carbonyl = nn.Linear(inner, 2);
            amine = nn.Linear(inner, 2);
            RegisterComponents();
        }

        public bool UseTrunk { get; }

        public Tensor Readout(Tensor readout) => UseTrunk ? nn.functional.relu(trunk.forward(readout)) : readout;

        public IEnumerable<(string Name, Linear Head, Func<MoleculeFacts, long> Label)> Properties =>
        [
            ("carbon", carbon, f => f.Counts[Element.C]), ("nitrogen", nitrogen, f => f.Counts[Element.N]), ("oxygen", oxygen, f => f.Counts[Element.O]),
            ("sulfur", sulfur, f => f.Counts[Element.S]), ("halogen", halogen, f => f.Halogens), ("rings", rings, f => f.Rings),
            ("hydroxyl", hydroxyl, f => f.Hydroxyl ? 1 : 0), ("carbonyl", carbonyl, f => f.Carbonyl ? 1 : 0), ("amine", amine, f => f.Amine ? 1 : 0),
        ];
    }

    /// <summary>Trains a new encoder of <paramref name="config"/>'s shape and returns it with the held-out accuracies.</summary>
    public static (GinEncoder Encoder, GraphPretrainResult Result) Run(GinConfig config, GraphPretrainOptions options, Action<TrainProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        manual_seed(options.Seed);
        var encoder = new GinEncoder(config);
        using var heads = new Heads(config.HiddenSize, options.Trunk);
        var named = encoder.named_parameters().Select(p => (p.name, p.parameter))
            .Concat(heads.named_parameters().Select(p => ("heads." + p.name, p.parameter))).ToList();
        var generator = new MoleculeGenerator(options.Seed);
        var masks = new Random(options.Seed ^ 0x3a5c);
        encoder.train();
        var run = PretrainingLoop.Run(named, options.Steps, options.BatchSize, options.LearningRate, step =>
        {
            var batch = Enumerable.Range(0, options.BatchSize).Select(_ => generator.Next()).ToList();
            return Loss(encoder, heads, batch, Masks(batch, options.MaskFraction, masks), out _);
        }, progress);
        encoder.eval();
        double atomsRight = 0, atomsTotal = 0, moleculesRight = 0;
        var propertyRight = new Dictionary<string, double>();
        using (no_grad())
        {
            var held = new MoleculeGenerator(options.Seed + 7919);
            var heldMasks = new Random(options.Seed + 7919);
            for (int done = 0; done < options.EvalMolecules; done += options.BatchSize)
            {
                using var scope = NewDisposeScope();
                var batch = Enumerable.Range(0, Math.Min(options.BatchSize, options.EvalMolecules - done)).Select(_ => held.Next()).ToList();
                Loss(encoder, heads, batch, Masks(batch, options.MaskFraction, heldMasks), out var stats);
                atomsRight += stats.AtomsRight;
                atomsTotal += stats.AtomsMasked;
                moleculesRight += stats.MoleculesRight;
                foreach (var (name, right) in stats.ByProperty) propertyRight[name] = propertyRight.GetValueOrDefault(name) + right;
            }
        }
        return (encoder, new GraphPretrainResult(atomsRight / Math.Max(1, atomsTotal), moleculesRight / options.EvalMolecules, run.FinalLoss, clock.Elapsed.TotalSeconds,
            propertyRight.ToDictionary(kv => kv.Key, kv => kv.Value / options.EvalMolecules)));
    }

    /// <summary>At least one masked atom per molecule, about <paramref name="fraction"/> of them.</summary>
    static List<ISet<int>> Masks(List<Molecule> batch, double fraction, Random random) =>
        batch.Select(m =>
        {
            var set = new HashSet<int> { random.Next(m.Atoms.Count) };
            for (int i = 0; i < m.Atoms.Count; i++) if (random.NextDouble() < fraction) set.Add(i);
            return (ISet<int>)set;
        }).ToList();

    static Tensor Loss(GinEncoder encoder, Heads heads, List<Molecule> batch, List<ISet<int>> masked, out (double AtomsRight, double AtomsMasked, double MoleculesRight, Dictionary<string, double> ByProperty) stats)
    {
        using var scope = NewDisposeScope();
        // Properties from the readout of the whole molecule.
        var (atoms, bonds, mask) = MoleculeTensors.Batch(batch);
        var readout = heads.Readout(encoder.Tokens(atoms, bonds, mask).select(1, 0));
        var facts = batch.Select(MoleculeFacts.Of).ToList();
        Tensor? loss = null;
        Tensor? allRight = null;
        var byProperty = new Dictionary<string, double>();
        foreach (var (name, head, label) in heads.Properties)
        {
            var labels = tensor(facts.Select(f => Math.Min(label(f), head.weight!.shape[0] - 1)).ToArray());
            var logits = head.forward(readout);
            var term = nn.functional.cross_entropy(logits, labels);
            loss = loss is null ? term : loss.Plus(term);
            var right = logits.argmax(-1).eq(labels);
            byProperty[name] = right.sum().item<long>();
            allRight = allRight is null ? right : allRight.logical_and(right);
        }
        // Masked atoms from their own final state, in the masked molecule.
        var (maskedAtoms, _, _) = MoleculeTensors.Batch(batch, masked);
        var states = encoder.Forward(maskedAtoms, bonds);
        int n = (int)atoms.shape[1];
        var index = masked.SelectMany((set, k) => set.Select(i => (long)(k * n + i))).ToArray();
        var picked = states.reshape(-1, states.shape[2]).index_select(0, tensor(index));
        var atomLabels = tensor(masked.SelectMany((set, k) => set.Select(i => (long)batch[k].Atoms[i])).ToArray());
        var atomLogits = heads.atom.forward(picked);
        loss = loss!.Plus(nn.functional.cross_entropy(atomLogits, atomLabels));
        stats = (atomLogits.argmax(-1).eq(atomLabels).sum().item<long>(), index.Length, allRight!.sum().item<long>(), byProperty);
        return loss.MoveToOuterDisposeScope();
    }
}
