namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>Hand-built MP3 data: no encoder is available to the tests, but an all-zero layer III frame is valid silence.</summary>
static class TestMp3
{
    /// <summary><paramref name="frames"/> MPEG-1 layer III frames, 44.1 kHz, 128 kbit/s, mono, no CRC, 417 bytes each.</summary>
    public static byte[] SilentFrames(int frames, bool withId3)
    {
        const int frameBytes = 144 * 128000 / 44100; // 417, no padding
        byte[] id3 = withId3 ? [(byte)'I', (byte)'D', (byte)'3', 4, 0, 0, 0, 0, 0, 0] : []; // empty ID3v2.4 tag
        var data = new byte[id3.Length + frames * frameBytes];
        id3.CopyTo(data, 0);
        for (int f = 0; f < frames; f++)
        {
            int o = id3.Length + f * frameBytes;
            data[o] = 0xFF;
            data[o + 1] = 0xFB; // MPEG-1, layer III, no CRC
            data[o + 2] = 0x90; // 128 kbit/s, 44.1 kHz, no padding
            data[o + 3] = 0xC4; // mono, original
            // side information and main data all zero: global gain 0, no big values -> silence
        }
        return data;
    }
}
