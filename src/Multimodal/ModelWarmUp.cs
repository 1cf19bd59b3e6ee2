using System.Buffers.Binary;
using LlavaModal.Abstractions.Modality;
using LlavaModal.Decoder.Generation;
using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal;

/// <summary>
/// <see cref="MultimodalModel.WarmUp"/>: a two-token answer to a short chat message, and a small synthetic image and
/// audio clip through their encoders and projectors (not through the decoder, whose prompt would take a large model's
/// hundreds of image tokens). .NET compiles each code path on its first call, so without it the first request pays for
/// compiling them: with the toy model behind <c>serve</c> a first chat request took 0.18 s without it, 0.05-0.06 s with
/// it (the rest is the HTTP layer's own first request) and 0.005-0.01 s after; a first image request 0.37-0.41 s
/// against 0.05-0.07 s after, with the warm-up 0.14-0.19 s (the rest is the image prompt's own path through the decoder).
/// </summary>
static class ModelWarmUp
{
    /// <summary>
    /// The message the warm-up answers: long enough (about 40 tokens with a chat template) for a prompt's own products
    /// and attention, which short prompts skip.
    /// </summary>
    internal const string Message = "Please describe, in one short sentence, what a small grey square on a plain white background looks like, and say how many squares there are.";

    /// <summary>Side of the synthetic image: small, since encoders resize to their own size anyway.</summary>
    const int ImageSide = 32;

    /// <summary>The library's warm-up: the answer through the model's own chat template and generation.</summary>
    public static void Run(MultimodalModel model, CancellationToken cancellation) =>
        RunAsync(model, message => model.GenerateAsync(model.RenderChat([new ChatTurn(TurnRole.User, message)]), new GenerationOptions { MaxNewTokens = 2 }, cancellation),
            cancellation).GetAwaiter().GetResult();

    /// <summary>
    /// Runs the warm-up: <paramref name="answer"/> asks for a two-token answer to <see cref="Message"/> (through the
    /// model's own chat, or a host's chat layer so that it is compiled too), the prompt cache is emptied after it, so
    /// requests find it as they would without one; then the synthetic image and audio clip go through the image and
    /// audio encoders and projectors.
    /// </summary>
    public static async Task RunAsync(MultimodalModel model, Func<string, Task> answer, CancellationToken cancellation)
    {
        try
        {
            await answer(Message).ConfigureAwait(false);
        }
        finally
        {
            model.ClearPromptCache();
        }
        foreach (var binding in model.Modalities)
        {
            cancellation.ThrowIfCancellationRequested();
            var input = binding.Modality switch
            {
                "image" => new ModalityInput(Bitmap(), "image/bmp", "warm-up image"),
                "audio" => new ModalityInput(Wave(), "audio/wav", "warm-up audio"),
                _ => null,
            };
            if (input is null) continue;
            using var scope = NewDisposeScope();
            using var grad = no_grad();
            using var prepared = binding.Encoder.Prepare(input with { Modality = binding.Modality });
            binding.Embed(prepared, model.Decoder.Device, cancellation);
        }
    }

    /// <summary>A mid-grey 24-bit BMP (every built-in image loader reads BMP; a header and rows are all it takes to write one; a PNG measured no different).</summary>
    internal static byte[] Bitmap()
    {
        const int rowBytes = ImageSide * 3, pixels = rowBytes * ImageSide, header = 54;
        var bmp = new byte[header + pixels];
        bmp[0] = (byte)'B';
        bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), header);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), ImageSide);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), ImageSide);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), pixels);
        bmp.AsSpan(header).Fill(128);
        return bmp;
    }

    /// <summary>A second of silence as 16 kHz mono 16-bit PCM WAV.</summary>
    internal static byte[] Wave()
    {
        const int rate = 16000, dataBytes = rate * 2, header = 44;
        var wav = new byte[header + dataBytes];
        "RIFF"u8.CopyTo(wav);
        BinaryPrimitives.WriteInt32LittleEndian(wav.AsSpan(4), wav.Length - 8);
        "WAVEfmt "u8.CopyTo(wav.AsSpan(8));
        BinaryPrimitives.WriteInt32LittleEndian(wav.AsSpan(16), 16);
        BinaryPrimitives.WriteInt16LittleEndian(wav.AsSpan(20), 1);
        BinaryPrimitives.WriteInt16LittleEndian(wav.AsSpan(22), 1);
        BinaryPrimitives.WriteInt32LittleEndian(wav.AsSpan(24), rate);
        BinaryPrimitives.WriteInt32LittleEndian(wav.AsSpan(28), rate * 2);
        BinaryPrimitives.WriteInt16LittleEndian(wav.AsSpan(32), 2);
        BinaryPrimitives.WriteInt16LittleEndian(wav.AsSpan(34), 16);
        "data"u8.CopyTo(wav.AsSpan(36));
        BinaryPrimitives.WriteInt32LittleEndian(wav.AsSpan(40), dataBytes);
        return wav;
    }
}
