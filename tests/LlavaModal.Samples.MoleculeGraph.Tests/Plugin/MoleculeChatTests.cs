using System.Text;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Multimodal;
using LlavaModal.Samples.MoleculeGraph.Chemistry;
using LlavaModal.Samples.MoleculeGraph.Curriculum;
using LlavaModal.Samples.MoleculeGraph.Gin;
using LlavaModal.Samples.MoleculeGraph.Plugin;
using LlavaModal.Samples.MoleculeGraph.Smiles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace LlavaModal.Samples.MoleculeGraph.Tests.Plugin;

/// <summary>The shipped graph model through Microsoft.Extensions.AI, with the plugin registered by <c>.AddMoleculeGraph()</c> alone.</summary>
public class MoleculeChatTests
{
    [Fact]
    public void The_sample_ships_its_trained_model()
    {
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.model", "MODEL_CARD.md" })
            Assert.True(File.Exists(Path.Combine(Shipped.Model, f)), $"{f} is missing from {Shipped.Model}");
        Assert.False(File.Exists(Path.Combine(Shipped.Model, "optimizer.safetensors")), "the optimizer state is not part of the shipped model");
        Assert.Contains("\"graph_config\"", File.ReadAllText(Path.Combine(Shipped.Model, "config.json")), StringComparison.Ordinal);
    }

    /// <summary>
    /// SMILES as <c>DataContent</c> of type chemical/x-daylight-smiles reaches the graph plugin: the chat client's answers
    /// are the model's own answers to the same questions asked directly with the molecule (fresh molecules, seed 77), in the
    /// curriculum's form. (How often they are right is the quality gate's business: the shipped model is below its bar.)
    /// </summary>
    [Fact]
    public async Task Smiles_content_reaches_the_graph_plugin_through_IChatClient()
    {
        await using var services = MoleculeChat.Services(Shipped.Model);
        var client = services.GetRequiredService<IChatClient>();
        var model = services.GetRequiredService<MultimodalModel>();
        Assert.Contains(model.Modalities, m => m.Modality == "graph" && m.Encoder.Placeholder == "<graph>");
        var generator = new MoleculeGenerator(77);
        var random = new Random(78);
        for (int i = 0; i < 6; i++)
        {
            var molecule = generator.Next();
            var smiles = SmilesWriter.Write(molecule, random);
            var facts = MoleculeFacts.Of(molecule);
            foreach (var type in new[] { GraphQuestionType.Carbon, GraphQuestionType.Rings, GraphQuestionType.Hydroxyl })
            {
                var q = GraphCurriculum.Ask(type, facts);
                var reply = await client.GetResponseAsync([MoleculeChat.Question(smiles, q.Text)], new ChatOptions { MaxOutputTokens = 32 });
                var direct = model.Chat([new(Tokenizers.Chat.TurnRole.User, q.Text)], [new(Encoding.ASCII.GetBytes(smiles), GraphMediaTypes.Smiles)], new Decoder.Generation.GenerationOptions { MaxNewTokens = 32 });
                Assert.Equal(direct.Text, reply.Text);
                Assert.Matches(type == GraphQuestionType.Hydroxyl ? "^A hydroxyl group is (present|absent)\\.$" : $"^The {(type == GraphQuestionType.Rings ? "ring" : "carbon")} count is [0-9]+\\.$", reply.Text.Trim());
            }
        }
    }

    /// <summary>
    /// The same through Semantic Kernel: a <c>ChatHistory</c> message with the SMILES as <c>BinaryContent</c> of the
    /// custom media type reaches the plugin registered by <c>.AddMoleculeGraph()</c>, and the service answers as the
    /// model does directly.
    /// </summary>
    [Fact]
    public async Task Smiles_content_reaches_the_graph_plugin_through_Semantic_Kernel()
    {
        var collection = new ServiceCollection();
        collection.AddLlavaModal(o => o.ModelDirectory = Shipped.Model).AddMoleculeGraph();
        collection.AddLlavaChatCompletion(Shipped.Model);
        await using var services = collection.BuildServiceProvider();
        var chat = services.GetRequiredService<IChatCompletionService>();
        var model = services.GetRequiredService<MultimodalModel>();
        var generator = new MoleculeGenerator(91);
        var random = new Random(92);
        for (int i = 0; i < 3; i++)
        {
            var molecule = generator.Next();
            var smiles = SmilesWriter.Write(molecule, random);
            var q = GraphCurriculum.Ask(GraphQuestionType.Rings, MoleculeFacts.Of(molecule));
            var history = new ChatHistory();
#pragma warning disable SKEXP0001 // BinaryContent is marked experimental in SK; it is how SK carries a custom media type.
            history.AddUserMessage([new BinaryContent(Encoding.ASCII.GetBytes(smiles), GraphMediaTypes.Smiles), new Microsoft.SemanticKernel.TextContent(q.Text)]);
#pragma warning restore SKEXP0001
            var reply = await chat.GetChatMessageContentAsync(history, new LlavaModal.SemanticKernel.Settings.LlavaPromptExecutionSettings { MaxTokens = 32 });
            var direct = model.Chat([new(Tokenizers.Chat.TurnRole.User, q.Text)], [new(Encoding.ASCII.GetBytes(smiles), GraphMediaTypes.Smiles)], new Decoder.Generation.GenerationOptions { MaxNewTokens = 32 });
            Assert.Equal(direct.Text, reply.Content);
            Assert.Matches("^The ring count is [0-9]+\\.$", reply.Content!.Trim());
        }
    }

    [Fact]
    public async Task Bad_smiles_through_IChatClient_is_a_typed_error_naming_the_character()
    {
        await using var services = MoleculeChat.Services(Shipped.Model);
        var client = services.GetRequiredService<IChatClient>();
        var e = await Assert.ThrowsAsync<InvalidSmilesException>(() => client.GetResponseAsync([MoleculeChat.Question("CC(C", "How many rings are there?")]));
        Assert.Equal(3, e.Position);
        Assert.Contains("never closed", e.Message, StringComparison.Ordinal);
    }

    /// <summary>The registration is what makes SMILES readable: without <c>.AddMoleculeGraph()</c> the same request is refused, naming the media type.</summary>
    [Fact]
    public async Task Without_the_registration_smiles_content_is_refused_by_name()
    {
        var services = new ServiceCollection();
        services.AddLlavaChatClient(Shipped.Model);
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([MoleculeChat.Question("CCO", "How many carbon atoms are there?")]));
        Assert.Contains(GraphMediaTypes.Smiles, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_factory_gives_nothing_for_a_folder_without_a_graph_encoder()
    {
        using var model = MultimodalModel.Load(Shipped.BaseModel, [new LlavaVisionFactory(), new MoleculeGraphFactory()]);
        Assert.Equal(["image"], model.Modalities.Select(m => m.Modality));
    }

    [Fact]
    public void Untyped_smiles_bytes_are_recognised_and_other_bytes_are_not()
    {
        using var gin = new GinEncoder(new GinConfig(8, 1));
        using var plugin = new MoleculeGraphEncoder(gin, ownsEncoder: false);
        Assert.True(plugin.Accepts(new(Encoding.ASCII.GetBytes("CC(=O)O acetic acid\n"))));
        Assert.True(plugin.Accepts(new(Encoding.ASCII.GetBytes("CCO"), GraphMediaTypes.Smiles + "; charset=us-ascii")));
        Assert.False(plugin.Accepts(new(Encoding.ASCII.GetBytes("CCO"), "text/plain")));
        Assert.False(plugin.Accepts(new(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' })));
        Assert.False(plugin.Accepts(new(Encoding.ASCII.GetBytes("hello"))));
        using var prepared = plugin.Prepare(new(Encoding.ASCII.GetBytes("C1CC1O"), GraphMediaTypes.Smiles, "ring.smi"));
        Assert.Equal(5, prepared.TokenCount);
    }
}
