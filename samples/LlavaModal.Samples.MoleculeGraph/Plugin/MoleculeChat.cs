using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace LlavaModal.Samples.MoleculeGraph.Plugin;

/// <summary>
/// The sample's way in through Microsoft.Extensions.AI: a container with the model, the graph plugin registered by
/// <c>.AddMoleculeGraph()</c> (nothing else), and an <see cref="IChatClient"/>; a molecule travels as
/// <c>DataContent</c> of media type <see cref="GraphMediaTypes.Smiles"/>.
/// </summary>
public static class MoleculeChat
{
    /// <summary>A service provider holding the model in <paramref name="modelDirectory"/> with the graph plugin, and its <see cref="IChatClient"/>.</summary>
    public static ServiceProvider Services(string modelDirectory)
    {
        var services = new ServiceCollection();
        services.AddLlavaModal(o => o.ModelDirectory = modelDirectory).AddMoleculeGraph();
        services.AddLlavaChatClient(modelDirectory);
        return services.BuildServiceProvider();
    }

    /// <summary>The user message asking <paramref name="question"/> about the molecule <paramref name="smiles"/>.</summary>
    public static ChatMessage Question(string smiles, string question) =>
        new(ChatRole.User, [new DataContent(Encoding.UTF8.GetBytes(smiles), GraphMediaTypes.Smiles), new TextContent(question)]);
}
