using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.SemanticKernel.Services;
using LlavaModal.Tests.Encoders.Vision.Qwen2VL;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.AI;

namespace LlavaModal.Tests.SemanticKernel.Services;

/// <summary>A family whose prompts frame each input (Qwen2-VL's vision markers) gets the same framing through <see cref="IChatClient"/>.</summary>
public class FramedPlaceholderTests
{
    [Fact]
    public async Task An_image_through_the_chat_client_is_framed_as_the_library_frames_it()
    {
        using var model = MultimodalModel.Load(Qwen2VLReference.Directory);
        var image = File.ReadAllBytes(Path.Combine(Qwen2VLReference.Directory, "images", "landscape_200x150.png"));
        using var client = new LlavaChatClient(model);
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, [new DataContent(image, "image/png"), new TextContent("Describe it.")])],
            new ChatOptions { MaxOutputTokens = 6 });

        var prompt = model.RenderChat([new ChatTurn(TurnRole.User, "Describe it.")], [new LlavaModal.Abstractions.Modality.ModalityInput(image, "image/png")]);
        Assert.Contains("<|vision_start|><|image_pad|><|vision_end|>", prompt.Text);
        var direct = model.Generate(prompt, new GenerationOptions { MaxNewTokens = 6 });
        Assert.Equal(direct.Text, response.Text);
        Assert.Equal(direct.PromptTokens, response.Usage!.InputTokenCount);
    }
}
