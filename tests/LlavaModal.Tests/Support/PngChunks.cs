using System.Buffers.Binary;
using System.Text;

namespace LlavaModal.Tests.Support;

/// <summary>Hand-built PNG chunks for tests that craft headers and data a PNG encoder would never write.</summary>
public static class PngChunks
{
    public static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Writes a chunk: length, type, data and the CRC over type and data, so it passes chunk checks.</summary>
    public static void Write(Stream s, string type, byte[] data)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(buffer, data.Length);
        s.Write(buffer);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(buffer, System.IO.Hashing.Crc32.HashToUInt32(typed));
        s.Write(buffer);
    }

    /// <summary>An IHDR payload: size, 8-bit RGB, not interlaced.</summary>
    public static byte[] RgbHeader(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = 2;
        return ihdr;
    }
}
