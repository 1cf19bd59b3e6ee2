using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using LlavaModal.Abstractions.Modality;
using TorchSharp;

namespace LlavaModal.Multimodal.Prompts;

/// <summary>
/// A 64-bit fingerprint of a prepared input: what its plugin will encode (the values' dtype, shape and bytes) and what
/// shapes the encoding (modality, token count, grid, metadata). Equal fingerprints mean equal embeddings, so the prompt
/// cache can reuse a prefix holding the same image whatever file or URL it came from.
/// </summary>
static class MediaDigest
{
    public static ulong Of(string modality, PreparedInput input)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var values = input.Values;
        hash.AppendData(Encoding.UTF8.GetBytes($"{modality}|{input.TokenCount}|{input.Grid}|{input.Metadata}|{values.dtype}|{string.Join(',', values.shape)}"));
        using (var host = values.device_type == DeviceType.CPU && values.is_contiguous() ? values.alias() : values.cpu().contiguous())
            hash.AppendData(host.bytes);
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest);
    }
}
