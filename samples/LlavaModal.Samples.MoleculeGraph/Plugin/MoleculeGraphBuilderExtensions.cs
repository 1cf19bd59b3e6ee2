using LlavaModal.Abstractions.Hosting;
using LlavaModal.Samples.MoleculeGraph.Plugin;

// Extension methods on the DI builder live in this namespace by .NET convention, so they are found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the graph plugin.</summary>
public static class MoleculeGraphBuilderExtensions
{
    /// <summary>
    /// Adds the molecule-graph plugin to the model <c>AddLlavaModal</c> registers: the folder's <c>graph_config</c> and
    /// <c>graph_tower.*</c> are loaded with it, and SMILES content (<c>chemical/x-daylight-smiles</c>) reaches the model
    /// from <c>IChatClient</c> and Semantic Kernel. Only forwards to <c>AddModalityEncoderFactory</c>.
    /// </summary>
    public static LlavaModalBuilder AddMoleculeGraph(this LlavaModalBuilder builder) => builder.AddModalityEncoderFactory(new MoleculeGraphFactory());
}
