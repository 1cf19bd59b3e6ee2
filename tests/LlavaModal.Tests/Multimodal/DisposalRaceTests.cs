using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Multimodal.Prompts;
using LlavaModal.SemanticKernel.Services;
using LlavaModal.Tests.Support;
using Microsoft.Extensions.AI;

namespace LlavaModal.Tests.Multimodal;

/// <summary>
/// Issue 15, 1: disposing a <see cref="LanguageModel"/> or <see cref="MultimodalModel"/> (or the
/// <see cref="LlavaChatClient"/> holding it) while requests ran ended the process with a segmentation fault or glibc heap
/// corruption within 5-21 tries. Now every request either finishes, is cancelled, or fails with
/// <see cref="ObjectDisposedException"/>; the process survives many rounds of it, with collections forced meanwhile so
/// finalizers run during native calls.
/// </summary>
public class DisposalRaceTests
{
    static bool Expected(Exception e) => e is ObjectDisposedException or OperationCanceledException;

    static async Task<string> Outcome(Task task)
    {
        try
        {
            await task;
            return "finished";
        }
        catch (Exception e) when (Expected(e)) { return e.GetType().Name; }
    }

    static async Task Drain(IAsyncEnumerable<GenerationChunk> stream, CancellationTokenSource? cancelAfterFirst = null)
    {
        await foreach (var _ in stream) cancelAfterFirst?.Cancel();
    }

    static async Task Drain(IAsyncEnumerable<ChatResponseUpdate> stream)
    {
        await foreach (var _ in stream) { }
    }

    [Fact]
    public async Task Disposing_a_multimodal_model_and_its_chat_client_while_requests_run_never_crashes()
    {
        var random = new Random(15);
        using var stop = new CancellationTokenSource();
        var collector = Task.Run(() => { while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); Thread.Sleep(1); } });
        var outcomes = new Dictionary<string, int>();
        for (int round = 0; round < 5; round++)
        {
            var model = MultimodalModel.Load(Fixtures.LlavaTinyA);
            var client = new LlavaChatClient(model);
            var image = ModalityInput.FromFile(Path.Combine(Fixtures.Images, "tiny_7x5.png"), "image");
            var prompt = new MultimodalPrompt("USER: <image>\nDescribe it. ASSISTANT:", [image]);
            var options = new GenerationOptions { MaxNewTokens = 24, StopTokenIds = [] };
            using var cancel = new CancellationTokenSource();
            var requests = new List<Task>
            {
                Task.Run(() => model.Generate(prompt, options)),
                Task.Run(() => model.GenerateBatch([prompt, new MultimodalPrompt("USER: Hello ASSISTANT:", [])], options)),
                Task.Run(() => Drain(model.GenerateStreamingAsync(prompt, options))),
                Task.Run(() => Drain(model.GenerateStreamingAsync(prompt, options, cancel.Token), cancel)),
                Task.Run(() => model.PromptLogits(prompt).Logits.Dispose()),
                client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi there")], new ChatOptions { MaxOutputTokens = 16 }),
                Task.Run(() => Drain(client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { MaxOutputTokens = 16 }))),
            };
            await Task.Delay(random.Next(40));
            var disposers = new[] { Task.Run(model.Dispose), Task.Run(client.Dispose), Task.Run(model.Dispose) };
            foreach (var request in requests)
            {
                var outcome = await Outcome(request);
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
            await Task.WhenAll(disposers);
            Assert.Throws<ObjectDisposedException>(() => model.Generate(prompt, options));
            await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")]));
        }
        stop.Cancel();
        await collector;
        Console.WriteLine("disposal race outcomes: " + string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}")));
        Assert.True(outcomes.GetValueOrDefault(nameof(ObjectDisposedException)) > 0, "no request met the disposal");
    }

    [Fact]
    public async Task Disposing_a_language_model_while_requests_run_never_crashes()
    {
        var random = new Random(16);
        for (int round = 0; round < 6; round++)
        {
            var lm = LanguageModel.Load(Fixtures.LlamaTiny);
            var options = new GenerationOptions { MaxNewTokens = 40, StopTokenIds = [] };
            using var cancel = new CancellationTokenSource();
            var requests = new List<Task>
            {
                Task.Run(() => lm.Generate("The capital of France is", options)),
                Task.Run(() => lm.GenerateBatch(["One", "Two three"], options)),
                Task.Run(() => Drain(lm.GenerateStreamingAsync("Count:", options))),
                Task.Run(() => Drain(lm.GenerateStreamingAsync("Count:", options, cancel.Token), cancel)),
                Task.Run(() => lm.PromptLogits([1, 5, 7]).Dispose()),
            };
            await Task.Delay(random.Next(30));
            lm.Dispose();
            foreach (var request in requests) await Outcome(request);
            Assert.Throws<ObjectDisposedException>(() => lm.Generate("x", options));
        }
    }
}
