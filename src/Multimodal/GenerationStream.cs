using System.Runtime.CompilerServices;
using System.Threading.Channels;
using LlavaModal.Decoder.Generation;

namespace LlavaModal.Multimodal;

/// <summary>Turns a queued generation that reports chunks into an async stream.</summary>
static class GenerationStream
{
    /// <summary>
    /// Starts <paramref name="generate"/> and yields its chunks, then a last chunk carrying the result. A consumer that
    /// stops early cancels the generation.
    /// </summary>
    public static async IAsyncEnumerable<GenerationChunk> StreamAsync(Func<Action<GenerationChunk>, CancellationToken, Task<GenerationResult>> generate, [EnumeratorCancellation] CancellationToken cancellation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var channel = Channel.CreateUnbounded<GenerationChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var producer = Complete(generate(chunk => channel.Writer.TryWrite(chunk), stop.Token), channel.Writer);
        try
        {
            await foreach (var chunk in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                yield return chunk;
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await producer.ConfigureAwait(false);
        }
    }

    static async Task Complete(Task<GenerationResult> generation, ChannelWriter<GenerationChunk> writer)
    {
        try
        {
            var result = await generation.ConfigureAwait(false);
            writer.TryWrite(new GenerationChunk("", result.GeneratedIds.LastOrDefault(-1), result));
            writer.TryComplete();
        }
        catch (Exception e) { writer.TryComplete(e); }
    }
}
