using LlavaModal.Abstractions;
using LlavaModal.Abstractions.Modality;

// Asks an agent about an image with a local LLaVA model: a Semantic Kernel kernel gets the LLaVA services in one line,
// and a Microsoft Agent Framework ChatClientAgent talks to the kernel's IChatClient.
// Usage: dotnet LlavaModal.Samples.Agent.dll <modelDir> <imagePath> [maxTokens]
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using TextContent = Microsoft.Extensions.AI.TextContent;

if (args.Length is < 2 or > 3)
{
    Console.Error.WriteLine("usage: LlavaModal.Samples.Agent <modelDir> <imagePath> [maxTokens]");
    return 2;
}
var (modelDir, imagePath) = (args[0], args[1]);
int maxTokens = args.Length == 3 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 128;

try
{
    var kernel = Kernel.CreateBuilder()
        .AddLlavaChatCompletion(modelDir)   // IChatCompletionService, for kernel prompts and ChatCompletionAgent
        .AddLlavaChatClient(modelDir)       // IChatClient over the same model, for Agent Framework
        .Build();

    var agent = new ChatClientAgent(kernel.GetRequiredService<IChatClient>(),
        instructions: "You are an assistant that describes images precisely.", name: "Describer");

    var image = ModalityInput.FromFile(imagePath);
    var question = new ChatMessage(ChatRole.User,
        [new DataContent(image.Data, image.MediaType ?? "image/png"), new TextContent("What is in this image?")]);

    Console.Write("Describer: ");
    UsageDetails? usage = null;
    ChatFinishReason? finish = null;
    await foreach (var update in agent.RunStreamingAsync(question, options: new ChatClientAgentRunOptions(new ChatOptions { MaxOutputTokens = maxTokens })))
    {
        Console.Write(update.Text);
        foreach (var content in update.Contents.OfType<UsageContent>()) usage = content.Details;
        finish ??= (update.RawRepresentation as ChatResponseUpdate)?.FinishReason;
    }
    Console.WriteLine();
    Console.WriteLine($"[{finish?.Value ?? "?"}; {usage?.InputTokenCount} prompt tokens, {usage?.OutputTokenCount} completion tokens]");
    return 0;
}
catch (Exception e) when (e is LlavaModalException or IOException or NotSupportedException or ArgumentException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
