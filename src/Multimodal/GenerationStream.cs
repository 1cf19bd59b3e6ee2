using System.Runtime.CompilerServices;
using System.Threading.Channels;
using LlavaModal.Decoder.Generation;

namespace LlavaModal.Multimodal;

/// <summary>Turns a blocking generation that reports chunks into an async stream.</summary>
static class GenerationStream
{
    /// <summary>
    /// Runs <paramref name="generate"/> on a worker thread and yields its chunks, then a last chunk carrying the result.
    /// A consumer that stops early cancels the generation.
    /// </summary>
    public static async IAsyncEnumerable<GenerationChunk> StreamAsync(Func<Action<int, GenerationChunk>, CancellationToken, GenerationResult> generate, [EnumeratorCancellation] CancellationToken cancellation)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var channel = Channel.CreateUnbounded<GenerationChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                var result = generate((_, chunk) => channel.Writer.TryWrite(chunk), stop.Token);
                channel.Writer.TryWrite(new GenerationChunk("", result.GeneratedIds.LastOrDefault(-1), result));
                channel.Writer.TryComplete();
            }
            catch (Exception e) { channel.Writer.TryComplete(e); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
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
}
