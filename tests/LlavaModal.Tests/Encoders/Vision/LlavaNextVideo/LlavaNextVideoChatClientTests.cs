using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace LlavaModal.Tests.Encoders.Vision.LlavaNextVideo;

public class LlavaNextVideoChatClientTests
{
    [Fact]
    public async Task An_animation_marked_as_video_through_the_chat_client_takes_the_video_plugin_as_the_library_does()
    {
        using var dir = new TempDir();
        NextVideoCheckpoint.Write(dir.Path);
        byte[] gif;
        using (var image = new Image<Rgb24>(40, 30))
        {
            for (int i = 1; i < 6; i++) image.Frames.AddFrame(new Image<Rgb24>(40, 30, new Rgb24((byte)(40 * i), 90, 10)).Frames.RootFrame);
            using var stream = new MemoryStream();
            image.SaveAsGif(stream);
            gif = stream.ToArray();
        }
        var services = new ServiceCollection();
        services.AddLlavaChatClient(dir.Path);
        using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        async Task<ChatResponse> Ask(string? modality)
        {
            var item = new DataContent(gif, "image/gif");
            if (modality is not null) item.AdditionalProperties = new() { ["modality"] = modality };
            return await client.GetResponseAsync([new ChatMessage(ChatRole.User, [item, new TextContent("What happens?")])], new ChatOptions { MaxOutputTokens = 4, Temperature = 0 });
        }
        var video = await Ask("video");
        var still = await Ask(null);
        // The library with the same animation as a video input: the same prompt, the same greedy answer.
        var model = provider.GetRequiredService<MultimodalModel>();
        var direct = model.Generate(model.RenderChat([new ChatTurn(TurnRole.User, "What happens?")], [new ModalityInput(gif, "image/gif", "clip.gif") { Modality = "video" }]),
            new GenerationOptions { MaxNewTokens = 4 });
        Assert.Equal(direct.PromptTokens, video.Usage!.InputTokenCount);
        Assert.Equal(direct.Text, video.Text);
        // Six frames of 4 pooled positions as a video; the first frame through AnyRes as an image: not the same prompt.
        Assert.NotEqual(still.Usage!.InputTokenCount, video.Usage.InputTokenCount);
    }
}
