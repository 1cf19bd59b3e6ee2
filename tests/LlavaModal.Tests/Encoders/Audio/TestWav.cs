using System.Buffers.Binary;
using System.Text;

namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>Builds WAV files byte by byte, so tests control every header field (including wrong ones).</summary>
static class TestWav
{
    public const ushort Pcm = 1, Adpcm = 2, IeeeFloat = 3, Extensible = 0xFFFE;

    /// <summary>A sine of <paramref name="frequency"/> Hz, amplitude <paramref name="amplitude"/>, as doubles.</summary>
    public static double[] Sine(int sampleRate, double seconds, double frequency, double amplitude = 0.5)
    {
        var x = new double[(int)Math.Round(sampleRate * seconds)];
        for (int i = 0; i < x.Length; i++) x[i] = amplitude * Math.Sin(2 * Math.PI * frequency * i / sampleRate);
        return x;
    }

    /// <summary>Encodes interleaved samples (frames x channels) as PCM (<paramref name="isFloat"/> false) or IEEE float.</summary>
    public static byte[] Encode(double[] interleaved, int bits, bool isFloat)
    {
        int bytes = bits / 8;
        var data = new byte[interleaved.Length * bytes];
        for (int i = 0; i < interleaved.Length; i++)
        {
            var span = data.AsSpan(i * bytes, bytes);
            double v = interleaved[i];
            switch (bits, isFloat)
            {
                case (8, false): span[0] = (byte)(Math.Clamp(Math.Round(v * 128), -128, 127) + 128); break;
                case (16, false): BinaryPrimitives.WriteInt16LittleEndian(span, (short)Math.Clamp(Math.Round(v * 32768), -32768, 32767)); break;
                case (24, false):
                    int s24 = (int)Math.Clamp(Math.Round(v * 8388608), -8388608, 8388607);
                    span[0] = (byte)s24; span[1] = (byte)(s24 >> 8); span[2] = (byte)(s24 >> 16);
                    break;
                case (32, false): BinaryPrimitives.WriteInt32LittleEndian(span, (int)Math.Clamp(Math.Round(v * 2147483648.0), int.MinValue, int.MaxValue)); break;
                case (32, true): BinaryPrimitives.WriteSingleLittleEndian(span, (float)v); break;
                case (64, true): BinaryPrimitives.WriteDoubleLittleEndian(span, v); break;
                default: throw new ArgumentException($"{bits} bits");
            }
        }
        return data;
    }

    /// <summary>A canonical <c>fmt </c> chunk body (16 bytes, or 40 for WAVE_FORMAT_EXTENSIBLE with <paramref name="subFormat"/>).</summary>
    public static byte[] Fmt(ushort tag, int channels, int sampleRate, int bits, ushort? subFormat = null, int? blockAlign = null)
    {
        int align = blockAlign ?? channels * bits / 8;
        var fmt = new byte[tag == Extensible ? 40 : 16];
        var s = fmt.AsSpan();
        BinaryPrimitives.WriteUInt16LittleEndian(s, tag);
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], (ushort)channels);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], sampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], sampleRate * align);
        BinaryPrimitives.WriteUInt16LittleEndian(s[12..], (ushort)align);
        BinaryPrimitives.WriteUInt16LittleEndian(s[14..], (ushort)bits);
        if (tag == Extensible)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 22); // cbSize
            BinaryPrimitives.WriteUInt16LittleEndian(s[18..], (ushort)bits); // valid bits
            BinaryPrimitives.WriteUInt32LittleEndian(s[20..], channels == 1 ? 4u : 3u); // channel mask
            // KSDATAFORMAT_SUBTYPE_xxx = {0000xxxx-0000-0010-8000-00aa00389b71}
            var guid = new Guid($"{subFormat ?? Pcm:x8}-0000-0010-8000-00aa00389b71");
            guid.TryWriteBytes(s[24..]);
        }
        return fmt;
    }

    /// <summary>A RIFF/WAVE file of the given chunks, each declaring its own length unless DeclaredSize overrides it.</summary>
    public static byte[] Riff(params (string Id, byte[] Body, uint? DeclaredSize)[] chunks) => Riff(null, chunks);

    /// <summary>As above; <paramref name="riffSize"/> overrides the RIFF length field.</summary>
    public static byte[] Riff(uint? riffSize, params (string Id, byte[] Body, uint? DeclaredSize)[] chunks)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Encoding.ASCII.GetBytes("RIFF"));
        w.Write(0u);
        w.Write(Encoding.ASCII.GetBytes("WAVE"));
        foreach (var (id, body, declared) in chunks)
        {
            w.Write(Encoding.ASCII.GetBytes(id));
            w.Write(declared ?? (uint)body.Length);
            w.Write(body);
            if (body.Length % 2 == 1) w.Write((byte)0);
        }
        w.Flush();
        var bytes = ms.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), riffSize ?? (uint)(bytes.Length - 8));
        return bytes;
    }

    /// <summary>A well-formed WAV of <paramref name="interleaved"/> samples.</summary>
    public static byte[] Wav(double[] interleaved, int channels, int sampleRate, int bits = 16, bool isFloat = false, bool extensible = false)
    {
        ushort tag = isFloat ? IeeeFloat : Pcm;
        var fmt = extensible ? Fmt(Extensible, channels, sampleRate, bits, tag) : Fmt(tag, channels, sampleRate, bits);
        return Riff(("fmt ", fmt, null), ("data", Encode(interleaved, bits, isFloat), null));
    }

    /// <summary>Interleaves equal-length channels.</summary>
    public static double[] Interleave(params double[][] channels)
    {
        var x = new double[channels[0].Length * channels.Length];
        for (int i = 0; i < channels[0].Length; i++)
            for (int c = 0; c < channels.Length; c++) x[i * channels.Length + c] = channels[c][i];
        return x;
    }

    /// <summary>Sign changes, for a cheap dominant-frequency estimate.</summary>
    public static int ZeroCrossings(ReadOnlySpan<float> x)
    {
        int n = 0;
        for (int i = 1; i < x.Length; i++) if ((x[i - 1] < 0) != (x[i] < 0)) n++;
        return n;
    }
}
